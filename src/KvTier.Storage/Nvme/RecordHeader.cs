using System.Buffers.Binary;
using System.IO.Hashing;
using KvTier.Core;

namespace KvTier.Storage.Nvme;

/// <summary>
/// The 64-byte header in front of every NVMe record: magic, version, kind, sequence number, block identity, extent
/// length, table checksum, and an XXH3-64 of the header itself, so recovery can trust the length before it reads on.
/// The record (header + extent) is padded to 4 KiB.
/// </summary>
internal readonly record struct RecordHeader(RecordKind Kind, ulong Sequence, BlockId Id, int ExtentLength, uint TableChecksum)
{
    public const int Size = 64;
    public const uint Magic = 0x3152564B; // "KVR1"
    public const ushort Version = 1;

    public int PaddedLength => AlignedBuffer.RoundUp(Size + ExtentLength);

    public void Write(Span<byte> destination)
    {
        destination[..Size].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(destination, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)Kind);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], Id.Namespace.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], Id.Key.High);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[32..], Id.Key.Low);
        BinaryPrimitives.WriteInt32LittleEndian(destination[40..], ExtentLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[44..], TableChecksum);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[56..], XxHash3.HashToUInt64(destination[..56]));
    }

    /// <summary>Parses a header; false for zeros, garbage, a wrong checksum or an impossible length.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, int maxExtentLength, out RecordHeader header)
    {
        header = default;
        if (source.Length < Size || BinaryPrimitives.ReadUInt32LittleEndian(source) != Magic
            || BinaryPrimitives.ReadUInt16LittleEndian(source[4..]) != Version
            || BinaryPrimitives.ReadUInt64LittleEndian(source[56..]) != XxHash3.HashToUInt64(source[..56]))
        {
            return false;
        }

        var kind = (RecordKind)BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
        var length = BinaryPrimitives.ReadInt32LittleEndian(source[40..]);
        if (kind is not (RecordKind.Block or RecordKind.Deleted) || length < 64 || length > maxExtentLength)
        {
            return false;
        }

        var id = new BlockId(new NamespaceId(BinaryPrimitives.ReadUInt64LittleEndian(source[16..])),
            new BlockKey(BinaryPrimitives.ReadUInt64LittleEndian(source[24..]), BinaryPrimitives.ReadUInt64LittleEndian(source[32..])));
        header = new RecordHeader(kind, BinaryPrimitives.ReadUInt64LittleEndian(source[8..]), id, length,
            BinaryPrimitives.ReadUInt32LittleEndian(source[44..]));
        return true;
    }
}

/// <summary>What a record holds.</summary>
internal enum RecordKind : ushort
{
    Block = 1,

    /// <summary>A block record killed in place by a delete: recovery skips it.</summary>
    Deleted = 2,
}
