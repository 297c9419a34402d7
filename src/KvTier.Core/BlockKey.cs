using System.Buffers.Binary;
using System.Globalization;

namespace KvTier.Core;

/// <summary>
/// The 128-bit identity of one KV block inside a namespace: the chained hash of the block's tokens and of every
/// block before it. Equal keys mean equal prefixes.
/// </summary>
/// <remarks>Stored as two 64-bit halves; the byte form is big-endian (<see cref="High"/> first), matching the
/// digest byte order of XXH3-128 and the first 16 bytes of a SHA-256 digest.</remarks>
public readonly record struct BlockKey(ulong High, ulong Low) : IComparable<BlockKey>
{
    /// <summary>Size of the byte form.</summary>
    public const int Size = 16;

    /// <summary>Reads a key from the first 16 bytes of <paramref name="bytes"/> (big-endian).</summary>
    public static BlockKey FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Size)
        {
            throw new ArgumentException($"A block key needs {Size} bytes, got {bytes.Length}.", nameof(bytes));
        }

        return new BlockKey(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }

    /// <summary>Parses the 32-character hexadecimal form produced by <see cref="ToString"/>.</summary>
    public static BlockKey Parse(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        if (hex.Length != Size * 2 || !ulong.TryParse(hex.AsSpan(0, 16), NumberStyles.HexNumber, null, out var high)
            || !ulong.TryParse(hex.AsSpan(16, 16), NumberStyles.HexNumber, null, out var low))
        {
            throw new FormatException($"'{hex}' is not a block key: expected 32 hexadecimal characters.");
        }

        return new BlockKey(high, low);
    }

    /// <summary>Writes the 16-byte big-endian form.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"A block key needs {Size} bytes of room, got {destination.Length}.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
    }

    /// <inheritdoc/>
    public int CompareTo(BlockKey other)
    {
        var byHigh = High.CompareTo(other.High);
        return byHigh != 0 ? byHigh : Low.CompareTo(other.Low);
    }

    /// <summary>Orders keys by their unsigned 128-bit value.</summary>
    public static bool operator <(BlockKey left, BlockKey right) => left.CompareTo(right) < 0;

    /// <summary>Orders keys by their unsigned 128-bit value.</summary>
    public static bool operator >(BlockKey left, BlockKey right) => left.CompareTo(right) > 0;

    /// <summary>Orders keys by their unsigned 128-bit value.</summary>
    public static bool operator <=(BlockKey left, BlockKey right) => left.CompareTo(right) <= 0;

    /// <summary>Orders keys by their unsigned 128-bit value.</summary>
    public static bool operator >=(BlockKey left, BlockKey right) => left.CompareTo(right) >= 0;

    /// <summary>The 32-character lowercase hexadecimal form.</summary>
    public override string ToString() => $"{High:x16}{Low:x16}";
}
