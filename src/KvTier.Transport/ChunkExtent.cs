namespace KvTier.Transport;

/// <summary>Where one chunk of a block lives in a node's registered arena region, and its XXH3-64 checksum, which
/// the reader verifies after the bytes arrive (one-sided reads bypass the node's CPU, so the node cannot).</summary>
/// <param name="Offset">Byte offset inside the node's arena region.</param>
/// <param name="Length">Chunk length in bytes.</param>
/// <param name="Checksum">XXH3-64 of the chunk's bytes.</param>
public readonly record struct ChunkExtent(ulong Offset, int Length, ulong Checksum)
{
    /// <summary>Bytes of the wire form (offset u64, length u32, checksum u64).</summary>
    public const int WireSize = 20;
}
