using System.Buffers.Binary;

namespace KvTier.Transport;

/// <summary>
/// The fixed 24-byte head of every data-plane frame (little-endian):
/// <c>magic u16 | version u8 | opcode u8 | flags u16 | status u16 | request id u64 | body length u32 | reserved u32</c>.
/// The body follows. Request ids let a connection pipeline requests; responses echo them. The version byte is the
/// version that introduced the frame's opcode (<see cref="OpcodeVersions"/>), so older peers keep working with every
/// verb they know.
/// </summary>
public readonly record struct FrameHeader(Opcode Opcode, FrameFlags Flags, FrameStatus Status, ulong RequestId, int BodyLength)
{
    /// <summary>Bytes of the header.</summary>
    public const int Size = 24;

    /// <summary>"KT" read as a little-endian u16.</summary>
    public const ushort Magic = 0x544B;

    /// <summary>Newest protocol version this build speaks (2 added ReadBlocks and Authenticate, 3 PutBlocks and
    /// ReadBlocksSplit, 4 MapArena and the node's run id in the Authenticate answer). A node tells a client its version in the answer to Authenticate, so the client uses no verb
    /// the node does not know.</summary>
    public const byte Version = 4;

    /// <summary>Oldest protocol version this build still accepts.</summary>
    public const byte MinVersion = 1;

    /// <summary>Writes the header.</summary>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"A frame header needs {Size} bytes, got {destination.Length}.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = OpcodeVersions.IntroducedIn(Opcode);
        destination[3] = (byte)Opcode;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], (ushort)Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], (ushort)Status);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], RequestId);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], BodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[20..], 0);
    }

    /// <summary>Parses and validates a header against the limits.</summary>
    /// <exception cref="ProtocolViolationException">Bad magic, unknown version or opcode, reserved bits set, or a
    /// body length that is negative or over <see cref="FrameLimits.MaxBodyBytes"/>.</exception>
    public static FrameHeader Read(ReadOnlySpan<byte> source, FrameLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (source.Length < Size)
        {
            throw new ProtocolViolationException($"Truncated frame header: {source.Length} of {Size} bytes.");
        }

        var magic = BinaryPrimitives.ReadUInt16LittleEndian(source);
        if (magic != Magic)
        {
            throw new ProtocolViolationException($"Bad frame magic 0x{magic:x4} (expected 0x{Magic:x4}): not a KvTier peer.");
        }

        var version = source[2];
        if (version is < MinVersion or > Version)
        {
            throw new ProtocolViolationException($"Unsupported protocol version {version} (this build speaks {MinVersion} to {Version}).");
        }

        var opcode = (Opcode)source[3];
        if (!Enum.IsDefined(opcode))
        {
            throw new ProtocolViolationException($"Unknown opcode {source[3]}.");
        }

        if (version < OpcodeVersions.IntroducedIn(opcode))
        {
            throw new ProtocolViolationException(
                $"Opcode {opcode} needs protocol version {OpcodeVersions.IntroducedIn(opcode)}; the frame says version {version}.");
        }

        var flags = (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(source[4..]);
        if ((flags & ~FrameFlags.All) != 0)
        {
            throw new ProtocolViolationException($"Unknown frame flags 0x{(ushort)flags:x4}.");
        }

        var status = (FrameStatus)BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
        if (!Enum.IsDefined(status))
        {
            throw new ProtocolViolationException($"Unknown frame status {(ushort)status}.");
        }

        var bodyLength = BinaryPrimitives.ReadInt32LittleEndian(source[16..]);
        if (bodyLength < 0 || bodyLength > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"Frame body length {bodyLength} is outside [0, {limits.MaxBodyBytes}].");
        }

        var reserved = BinaryPrimitives.ReadUInt32LittleEndian(source[20..]);
        if (reserved != 0)
        {
            throw new ProtocolViolationException($"Reserved header field is 0x{reserved:x8}, must be zero.");
        }

        return new FrameHeader(opcode, flags, status, BinaryPrimitives.ReadUInt64LittleEndian(source[8..]), bodyLength);
    }
}

/// <summary>Frame flags.</summary>
[Flags]
public enum FrameFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,

    /// <summary>The frame is a response.</summary>
    Response = 1,

    /// <summary>Every flag this version knows.</summary>
    All = Response,
}
