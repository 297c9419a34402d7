namespace KvTier.Core.Hashing;

/// <summary>
/// One extra key mixed into a block's hash besides its tokens: a LoRA adapter name, a multimodal input's identifier
/// and offset, a cache salt. Mirrors the Python values vLLM puts into its <c>extra_keys</c> tuple.
/// </summary>
public abstract record HashExtraKey
{
    private protected HashExtraKey()
    {
    }

    /// <summary>A text value (Python <c>str</c>).</summary>
    public static HashExtraKey Of(string value) => new TextKey(value ?? throw new ArgumentNullException(nameof(value)));

    /// <summary>An integer value (Python <c>int</c>).</summary>
    public static HashExtraKey Of(long value) => new IntegerKey(value);

    /// <summary>A byte-string value (Python <c>bytes</c>).</summary>
    public static HashExtraKey Of(byte[] value) => new BytesKey(value ?? throw new ArgumentNullException(nameof(value)));

    /// <summary>A tuple of values (Python <c>tuple</c>), such as a multimodal (identifier, offset) pair.</summary>
    public static HashExtraKey Tuple(params HashExtraKey[] items) => new TupleKey(items ?? throw new ArgumentNullException(nameof(items)));

    /// <summary>Text extra key.</summary>
    public sealed record TextKey(string Value) : HashExtraKey;

    /// <summary>Integer extra key.</summary>
    public sealed record IntegerKey(long Value) : HashExtraKey;

    /// <summary>Byte-string extra key.</summary>
    public sealed record BytesKey(byte[] Value) : HashExtraKey;

    /// <summary>Tuple extra key.</summary>
    public sealed record TupleKey(IReadOnlyList<HashExtraKey> Items) : HashExtraKey;
}
