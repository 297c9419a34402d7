using KvTier.Core;

namespace KvTier.BlockDirectory;

/// <summary>
/// A block key as the directory addresses it: the key itself and its anchor, the first key of the span of
/// <see cref="SpanLength"/> consecutive chain positions the key belongs to. Keys with the same anchor share one Redis
/// Cluster hash slot, so a span of a chain is looked up by one server-side script, while different prompts (and the
/// different continuations of one popular prefix) spread over the cluster.
/// </summary>
/// <param name="Key">The chained block key.</param>
/// <param name="Anchor">The key at position <c>index - index % SpanLength</c> of the same chain.</param>
public readonly record struct DirectoryKey(BlockKey Key, BlockKey Anchor)
{
    /// <summary>Chain positions per span: positions 0-63 are anchored at position 0, 64-127 at 64, and so on.</summary>
    public const int SpanLength = 64;

    /// <summary>The directory key of position <paramref name="index"/> of <paramref name="chain"/>.</summary>
    public static DirectoryKey InChain(ReadOnlySpan<BlockKey> chain, int index)
    {
        if ((uint)index >= (uint)chain.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The chain has {chain.Length} keys.");
        }

        return new DirectoryKey(chain[index], chain[index - (index % SpanLength)]);
    }

    /// <summary>The directory keys of every position of <paramref name="chain"/>, in order.</summary>
    public static DirectoryKey[] ForChain(ReadOnlySpan<BlockKey> chain)
    {
        var keys = new DirectoryKey[chain.Length];
        for (var index = 0; index < chain.Length; index++)
        {
            keys[index] = new DirectoryKey(chain[index], chain[index - (index % SpanLength)]);
        }

        return keys;
    }
}
