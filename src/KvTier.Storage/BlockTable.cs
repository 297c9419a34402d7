using System.Buffers.Binary;
using System.IO.Hashing;

namespace KvTier.Storage;

/// <summary>
/// The table at the start of every stored extent (host arena and NVMe record alike): chunk count, payload length,
/// the end offset and XXH3-64 checksum of each chunk, padded to 64 bytes; the chunks follow. Keeping it beside the
/// data keeps the index entry small, and demotion copies one contiguous extent.
/// </summary>
internal static class BlockTable
{
    public const uint Magic = 0x5442564B; // "KVBT"
    public const int MaxChunks = 1024;
    public const int HeaderSize = 16;

    /// <summary>Bytes of the table for <paramref name="chunkCount"/> chunks, padded to 64.</summary>
    public static int SizeFor(int chunkCount) => (HeaderSize + (12 * chunkCount) + 63) & ~63;

    public static void Write(Span<byte> table, ReadOnlySpan<ChunkInfo> chunks)
    {
        table.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(table, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(table[4..], (ushort)chunks.Length);
        var end = 0u;
        var ends = table[HeaderSize..];
        var checksums = table[(HeaderSize + (4 * chunks.Length))..];
        for (var index = 0; index < chunks.Length; index++)
        {
            end += (uint)chunks[index].Length;
            BinaryPrimitives.WriteUInt32LittleEndian(ends[(4 * index)..], end);
            BinaryPrimitives.WriteUInt64LittleEndian(checksums[(8 * index)..], chunks[index].Checksum);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(table[8..], end);
    }

    public static uint ChecksumOf(ReadOnlySpan<byte> table) => (uint)XxHash3.HashToUInt64(table);

    public static int ChunkCount(ReadOnlySpan<byte> extent) => BinaryPrimitives.ReadUInt16LittleEndian(extent[4..]);

    /// <summary>Whether <paramref name="extent"/> starts with a well-formed table that fits in it.</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> extent)
    {
        if (extent.Length < 64 || BinaryPrimitives.ReadUInt32LittleEndian(extent) != Magic)
        {
            return false;
        }

        var count = ChunkCount(extent);
        if (count is 0 or > MaxChunks || SizeFor(count) > extent.Length)
        {
            return false;
        }

        var payload = BinaryPrimitives.ReadUInt32LittleEndian(extent[8..]);
        return SizeFor(count) + (long)payload == extent.Length;
    }

    /// <summary>The offset (from the extent start) and length of chunk <paramref name="index"/>.</summary>
    public static (int Offset, int Length, ulong Checksum) Chunk(ReadOnlySpan<byte> extent, int index)
    {
        var count = ChunkCount(extent);
        var tableSize = SizeFor(count);
        var end = BinaryPrimitives.ReadUInt32LittleEndian(extent[(HeaderSize + (4 * index))..]);
        var start = index == 0 ? 0u : BinaryPrimitives.ReadUInt32LittleEndian(extent[(HeaderSize + (4 * (index - 1)))..]);
        var checksum = BinaryPrimitives.ReadUInt64LittleEndian(extent[(HeaderSize + (4 * count) + (8 * index))..]);
        return (tableSize + (int)start, (int)(end - start), checksum);
    }

    /// <summary>Index of the first chunk in <paramref name="first"/>..+<paramref name="count"/> that fails its checksum, or -1.</summary>
    public static int FirstCorruptChunk(ReadOnlySpan<byte> extent, int first, int count)
    {
        for (var index = first; index < first + count; index++)
        {
            var (offset, length, checksum) = Chunk(extent, index);
            if ((uint)offset + (uint)length > (uint)extent.Length || XxHash3.HashToUInt64(extent.Slice(offset, length)) != checksum)
            {
                return index;
            }
        }

        return -1;
    }
}
