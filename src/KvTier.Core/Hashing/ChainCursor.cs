namespace KvTier.Core.Hashing;

/// <summary>
/// Where a key chain stands: the digest of the last hashed block (or the root) and how many blocks are behind it.
/// Lets an engine extend a request's chain block by block as decoding fills new blocks. Not thread-safe.
/// </summary>
public sealed class ChainCursor
{
    private readonly byte[] digest;

    internal ChainCursor(BlockHasher owner, ReadOnlySpan<byte> rootDigest)
    {
        Owner = owner;
        digest = rootDigest.ToArray();
    }

    /// <summary>Blocks hashed so far on this chain.</summary>
    public int BlockCount { get; private set; }

    /// <summary>The full digest of the last block (32 bytes for sha256_cbor, 16 for XXH3), or the chain root
    /// before the first block. For sha256_cbor this is byte-for-byte vLLM's block hash.</summary>
    public ReadOnlySpan<byte> CurrentDigest => digest;

    internal BlockHasher Owner { get; }

    internal Span<byte> MutableDigest => digest;

    internal void Advance() => BlockCount++;
}
