using System.Buffers.Binary;
using KvTier.Core;

namespace KvTier.Transport;

/// <summary>Bounds-checked little-endian reader over a frame body. Every read checks the remaining length first,
/// and counts are checked against a limit before the caller sizes anything with them.</summary>
public ref struct BodyReader
{
    private readonly ReadOnlySpan<byte> body;
    private int position;

    /// <summary>Starts reading at the beginning of <paramref name="body"/>.</summary>
    public BodyReader(ReadOnlySpan<byte> body)
    {
        this.body = body;
        position = 0;
    }

    /// <summary>Bytes not read yet.</summary>
    public readonly int Remaining => body.Length - position;

    /// <summary>Reads one byte.</summary>
    public byte ReadByte(string field) => Take(1, field)[0];

    /// <summary>Reads a u16.</summary>
    public ushort ReadUInt16(string field) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field));

    /// <summary>Reads a u32.</summary>
    public uint ReadUInt32(string field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));

    /// <summary>Reads an i32.</summary>
    public int ReadInt32(string field) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, field));

    /// <summary>Reads a u64.</summary>
    public ulong ReadUInt64(string field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));

    /// <summary>Reads a 16-byte block key.</summary>
    public BlockKey ReadBlockKey(string field) => BlockKey.FromBytes(Take(BlockKey.Size, field));

    /// <summary>Reads a u32 count and checks it against <paramref name="max"/>.</summary>
    /// <exception cref="ProtocolViolationException">The count is over the limit.</exception>
    public int ReadCount(string field, int max)
    {
        var count = ReadUInt32(field);
        if (count > (uint)max)
        {
            throw new ProtocolViolationException($"{field} is {count}, over the limit of {max}.");
        }

        return (int)count;
    }

    /// <summary>Returns the next <paramref name="length"/> bytes without copying.</summary>
    public ReadOnlySpan<byte> ReadBytes(int length, string field) => Take(length, field);

    /// <summary>Checks that the whole body was consumed: trailing bytes mean the peer and we disagree on the format.</summary>
    public readonly void EnsureFullyRead(string message)
    {
        if (position != body.Length)
        {
            throw new ProtocolViolationException($"{message} body has {body.Length - position} unexpected trailing bytes.");
        }
    }

    private ReadOnlySpan<byte> Take(int length, string field)
    {
        if (length < 0 || length > body.Length - position)
        {
            throw new ProtocolViolationException(
                $"Truncated body: {field} needs {length} bytes at offset {position}, {body.Length - position} left.");
        }

        var slice = body.Slice(position, length);
        position += length;
        return slice;
    }
}
