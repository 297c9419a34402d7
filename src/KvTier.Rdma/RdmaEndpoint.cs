using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace KvTier.Rdma;

/// <summary>Everything a peer needs to connect its RC queue pair to ours (kvt_endpoint). Plain data: the control
/// plane carries it as <see cref="SerializedSize"/> bytes (<see cref="WriteTo"/>, <see cref="ReadFrom"/>).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct RdmaEndpoint : IEquatable<RdmaEndpoint>
{
    /// <summary>Bytes written by <see cref="WriteTo"/>.</summary>
    public const int SerializedSize = 32;

    private fixed byte gid[16];

    /// <summary>Queue pair number (24 bits).</summary>
    public uint QueuePairNumber;

    /// <summary>Initial packet sequence number (24 bits).</summary>
    public uint PacketSequenceNumber;

    /// <summary>Local identifier (InfiniBand; 0 on RoCE).</summary>
    public ushort Lid;

    /// <summary>Port number on the device.</summary>
    public byte Port;

    /// <summary>GID table index the QP sends from.</summary>
    public byte GidIndex;

    /// <summary>The sender's active MTU in bytes; the path uses the smaller of both sides.</summary>
    public uint Mtu;

    /// <summary>The 16-byte GID (an IPv4-mapped IPv6 address on RoCE v2).</summary>
    public ReadOnlySpan<byte> Gid => MemoryMarshal.CreateReadOnlySpan(ref gid[0], 16);

    /// <summary>Replaces the GID.</summary>
    public void SetGid(ReadOnlySpan<byte> value)
    {
        if (value.Length != 16)
        {
            throw new ArgumentException($"A GID is 16 bytes, not {value.Length}.", nameof(value));
        }

        value.CopyTo(MemoryMarshal.CreateSpan(ref gid[0], 16));
    }

    /// <summary>Writes the endpoint in a fixed little-endian layout.</summary>
    public readonly void WriteTo(Span<byte> destination)
    {
        if (destination.Length < SerializedSize)
        {
            throw new ArgumentException($"An endpoint needs {SerializedSize} bytes, got {destination.Length}.",
                nameof(destination));
        }

        fixed (byte* source = gid)
        {
            new ReadOnlySpan<byte>(source, 16).CopyTo(destination);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(destination[16..], QueuePairNumber);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], PacketSequenceNumber);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[24..], Lid);
        destination[26] = Port;
        destination[27] = GidIndex;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[28..], Mtu);
    }

    /// <summary>Reads an endpoint written by <see cref="WriteTo"/>, rejecting out-of-range fields.</summary>
    public static RdmaEndpoint ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < SerializedSize)
        {
            throw new ArgumentException($"An endpoint is {SerializedSize} bytes, got {source.Length}.", nameof(source));
        }

        var endpoint = new RdmaEndpoint
        {
            QueuePairNumber = BinaryPrimitives.ReadUInt32LittleEndian(source[16..]),
            PacketSequenceNumber = BinaryPrimitives.ReadUInt32LittleEndian(source[20..]),
            Lid = BinaryPrimitives.ReadUInt16LittleEndian(source[24..]),
            Port = source[26],
            GidIndex = source[27],
            Mtu = BinaryPrimitives.ReadUInt32LittleEndian(source[28..]),
        };
        if (endpoint.QueuePairNumber is 0 or > 0xFFFFFF || endpoint.PacketSequenceNumber > 0xFFFFFF)
        {
            throw new FormatException(
                $"Endpoint QP number {endpoint.QueuePairNumber} or PSN {endpoint.PacketSequenceNumber} is not a 24-bit value.");
        }

        endpoint.SetGid(source[..16]);
        return endpoint;
    }

    /// <inheritdoc />
    public readonly bool Equals(RdmaEndpoint other)
    {
        Span<byte> mine = stackalloc byte[SerializedSize];
        Span<byte> theirs = stackalloc byte[SerializedSize];
        WriteTo(mine);
        other.WriteTo(theirs);
        return mine.SequenceEqual(theirs);
    }

    /// <inheritdoc />
    public override readonly bool Equals(object? obj) => obj is RdmaEndpoint other && Equals(other);

    /// <inheritdoc />
    public override readonly int GetHashCode() => HashCode.Combine(QueuePairNumber, PacketSequenceNumber, Lid, Port);

    /// <summary>Value equality.</summary>
    public static bool operator ==(RdmaEndpoint left, RdmaEndpoint right) => left.Equals(right);

    /// <summary>Value inequality.</summary>
    public static bool operator !=(RdmaEndpoint left, RdmaEndpoint right) => !left.Equals(right);
}
