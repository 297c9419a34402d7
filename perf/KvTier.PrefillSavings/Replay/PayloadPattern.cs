using System.Buffers.Binary;

namespace KvTier.PrefillSavings.Replay;

/// <summary>
/// The bytes a replayed block carries: a pseudo-random stream seeded by the block and the layer, so the replayer
/// can check every loaded byte against what it stored without keeping a copy of it.
/// </summary>
internal static class PayloadPattern
{
    public static void Fill(Span<byte> chunk, int block, int layer)
    {
        var state = ((ulong)(uint)block << 20) ^ (ulong)(uint)layer ^ 0x5DEECE66DUL;
        var offset = 0;
        for (; offset + 8 <= chunk.Length; offset += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(chunk[offset..], Next(ref state));
        }

        if (offset < chunk.Length)
        {
            Span<byte> tail = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(tail, Next(ref state));
            tail[..(chunk.Length - offset)].CopyTo(chunk[offset..]);
        }
    }

    private static ulong Next(ref ulong state)
    {
        // SplitMix64: fast, and every seed gives a different stream.
        var value = state += 0x9E3779B97F4A7C15UL;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
    }
}
