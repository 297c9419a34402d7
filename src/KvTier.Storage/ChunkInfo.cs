using System.IO.Hashing;

namespace KvTier.Storage;

/// <summary>One chunk of a block as the writer declares it: its encoded length and its XXH3-64 checksum.</summary>
public readonly record struct ChunkInfo(int Length, ulong Checksum)
{
    /// <summary>The checksum the engine expects for <paramref name="chunk"/> (XXH3-64, seed 0).</summary>
    public static ulong ChecksumOf(ReadOnlySpan<byte> chunk) => XxHash3.HashToUInt64(chunk);

    /// <summary>Describes <paramref name="chunk"/>.</summary>
    public static ChunkInfo Of(ReadOnlySpan<byte> chunk) => new(chunk.Length, ChecksumOf(chunk));
}

/// <summary>Where one chunk of a block lies in the host arena: what a read hands out under a lease.</summary>
public readonly record struct ChunkExtent(long ArenaOffset, int Length, ulong Checksum);
