namespace KvTier.Core.Hashing;

/// <summary>One link of a key chain: digest = H(parent digest, block tokens, extra keys).</summary>
internal abstract class ChainStep
{
    /// <summary>Bytes of a digest (and of the parent it chains from).</summary>
    public abstract int DigestSize { get; }

    /// <summary>Scratch bytes <see cref="Hash"/> needs for a block of this many tokens and this many bytes of
    /// encoded extra keys.</summary>
    public abstract int ScratchSize(int tokenCount, int extraKeyBytes);

    /// <summary>Hashes one block. <paramref name="extraKeysCbor"/> is the canonical CBOR of the extra-keys tuple, or
    /// empty when the block has none.</summary>
    public abstract void Hash(ReadOnlySpan<byte> parent, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> extraKeysCbor,
        Span<byte> scratch, Span<byte> digest);

    /// <summary>The hot path: hashes consecutive full blocks that have no extra keys. <paramref name="parent"/>
    /// holds the chain's current digest on entry and the last block's digest on return.</summary>
    public abstract void HashBlocks(Span<byte> parent, ReadOnlySpan<int> tokens, int tokensPerBlock,
        Span<BlockKey> destination, Span<byte> scratch);
}
