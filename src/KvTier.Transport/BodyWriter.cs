using System.Buffers.Binary;
using KvTier.Core;

namespace KvTier.Transport;

/// <summary>Little-endian writer over a caller-sized frame body buffer (the caller computes the exact size first,
/// so there is no growth and no allocation).</summary>
public ref struct BodyWriter
{
    private readonly Span<byte> body;
    private int position;

    /// <summary>Starts writing at the beginning of <paramref name="body"/>.</summary>
    public BodyWriter(Span<byte> body)
    {
        this.body = body;
        position = 0;
    }

    /// <summary>Bytes written so far.</summary>
    public readonly int Written => position;

    /// <summary>Writes one byte.</summary>
    public void WriteByte(byte value) => Take(1)[0] = value;

    /// <summary>Writes a u16.</summary>
    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), value);

    /// <summary>Writes a u32.</summary>
    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), value);

    /// <summary>Writes an i32.</summary>
    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), value);

    /// <summary>Writes a u64.</summary>
    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), value);

    /// <summary>Writes a 16-byte block key.</summary>
    public void WriteBlockKey(BlockKey key) => key.WriteTo(Take(BlockKey.Size));

    /// <summary>Copies bytes.</summary>
    public void WriteBytes(ReadOnlySpan<byte> bytes) => bytes.CopyTo(Take(bytes.Length));

    /// <summary>Reserves <paramref name="length"/> bytes for the caller to fill in place (e.g. a chunk copied
    /// straight from the arena).</summary>
    public Span<byte> Reserve(int length) => Take(length);

    private Span<byte> Take(int length)
    {
        if (length > body.Length - position)
        {
            throw new InvalidOperationException(
                $"Frame body buffer too small: need {length} more bytes at offset {position}, {body.Length - position} left.");
        }

        var slice = body.Slice(position, length);
        position += length;
        return slice;
    }
}
