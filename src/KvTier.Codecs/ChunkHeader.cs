using System.Buffers.Binary;
using System.IO.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// The fixed 32-byte header in front of every encoded chunk, so a reader decodes it without outside state.
/// Layout (little-endian): magic "KVC" and format version (4), codec id (1), data type (1), reserved zero (2),
/// raw length (4), payload length (4), tokens (4), channels per token (4), checksum (8). The checksum is XXH3-64 of
/// the payload seeded with XXH3-64 of the first 24 header bytes, so it covers the header fields too; the client
/// verifies it after transport, end to end.
/// </summary>
public readonly record struct ChunkHeader(CodecId Codec, KvDataType DataType, int RawLength, int PayloadLength,
    int Tokens, int ChannelsPerToken, ulong Checksum)
{
    /// <summary>Bytes of the header.</summary>
    public const int Size = 32;

    /// <summary>Format version written in the fourth magic byte.</summary>
    public const byte FormatVersion = 1;

    private const uint Magic = 'K' | ('V' << 8) | ('C' << 16) | (FormatVersion << 24);
    private const int ChecksummedHeaderBytes = 24;

    /// <summary>Total encoded length: header plus payload.</summary>
    public int EncodedLength => Size + PayloadLength;

    /// <summary>Reads and validates the header of <paramref name="encoded"/> (the checksum is not verified here:
    /// see <see cref="VerifyChecksum(ReadOnlySpan{byte})"/>).</summary>
    /// <exception cref="ChunkFormatException">Too short, bad magic or version, unknown codec or data type, reserved
    /// bits set, or a length that does not fit the span.</exception>
    public static ChunkHeader Read(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length < Size)
        {
            throw new ChunkFormatException($"An encoded chunk is at least {Size} bytes; got {encoded.Length}.");
        }

        return Read(encoded[..Size], encoded.Length - Size);
    }

    /// <summary>Reads and validates a header whose payload is held apart from it (a reader that received the payload
    /// straight into its final place); <paramref name="followingBytes"/> payload bytes are available.</summary>
    /// <exception cref="ChunkFormatException">As <see cref="Read(ReadOnlySpan{byte})"/>.</exception>
    public static ChunkHeader Read(ReadOnlySpan<byte> header, int followingBytes)
    {
        if (header.Length != Size)
        {
            throw new ChunkFormatException($"A chunk header is {Size} bytes; got {header.Length}.");
        }

        var encoded = header;
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(encoded);
        if ((magic & 0xFFFFFF) != (Magic & 0xFFFFFF))
        {
            throw new ChunkFormatException($"Not an encoded chunk: magic 0x{magic & 0xFFFFFF:X6}, expected 0x{Magic & 0xFFFFFF:X6} (\"KVC\").");
        }

        if (encoded[3] != FormatVersion)
        {
            throw new ChunkFormatException($"Unsupported chunk format version {encoded[3]}; this reader knows version {FormatVersion}.");
        }

        var codec = (CodecId)encoded[4];
        if (!ChunkCodecs.IsKnown(codec))
        {
            throw new ChunkFormatException($"Unknown codec id {(byte)codec} in the chunk header.");
        }

        var dataType = (KvDataType)encoded[5];
        if (!Enum.IsDefined(dataType))
        {
            throw new ChunkFormatException($"Unknown data type {(byte)dataType} in the chunk header.");
        }

        var reserved = BinaryPrimitives.ReadUInt16LittleEndian(encoded[6..]);
        if (reserved != 0)
        {
            throw new ChunkFormatException($"Reserved header bits are set (0x{reserved:X4}).");
        }

        var rawLength = BinaryPrimitives.ReadInt32LittleEndian(encoded[8..]);
        var payloadLength = BinaryPrimitives.ReadInt32LittleEndian(encoded[12..]);
        var tokens = BinaryPrimitives.ReadInt32LittleEndian(encoded[16..]);
        var channels = BinaryPrimitives.ReadInt32LittleEndian(encoded[20..]);
        if (rawLength < 0 || payloadLength < 0 || tokens < 0 || channels < 0)
        {
            throw new ChunkFormatException(
                $"Negative length in the chunk header: raw {rawLength}, payload {payloadLength}, tokens {tokens}, channels {channels}.");
        }

        if (payloadLength > followingBytes)
        {
            throw new ChunkFormatException(
                $"The chunk header announces a {payloadLength}-byte payload but only {followingBytes} bytes follow it (truncated).");
        }

        return new ChunkHeader(codec, dataType, rawLength, payloadLength, tokens, channels,
            BinaryPrimitives.ReadUInt64LittleEndian(encoded[24..]));
    }

    /// <summary>Throws unless the checksum matches the header fields and the payload that follows.</summary>
    /// <exception cref="ChunkFormatException">The chunk was corrupted.</exception>
    public void VerifyChecksum(ReadOnlySpan<byte> encoded)
    {
        var actual = ComputeChecksum(encoded[..ChecksummedHeaderBytes], encoded.Slice(Size, PayloadLength));
        if (actual != Checksum)
        {
            throw new ChunkFormatException(
                $"Chunk checksum mismatch: header says 0x{Checksum:X16}, content hashes to 0x{actual:X16} (corrupted in storage or transport).");
        }
    }

    /// <summary>Throws unless the checksum matches the header fields and a payload held apart from the header.</summary>
    /// <exception cref="ChunkFormatException">The chunk was corrupted.</exception>
    public void VerifyChecksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        var actual = ComputeChecksum(header[..ChecksummedHeaderBytes], payload[..PayloadLength]);
        if (actual != Checksum)
        {
            throw new ChunkFormatException(
                $"Chunk checksum mismatch: header says 0x{Checksum:X16}, content hashes to 0x{actual:X16} (corrupted in storage or transport).");
        }
    }

    /// <summary>Copies a payload held apart from its header into <paramref name="destination"/> and checks it against
    /// the checksum in the same pass (the bytes checked are the bytes written, so a source that changes meanwhile
    /// cannot slip through). <paramref name="destination"/> holds the copy whatever the outcome.</summary>
    /// <exception cref="ChunkFormatException">The chunk was corrupted.</exception>
    public void CopyAndVerify(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        var seed = unchecked((long)XxHash3.HashToUInt64(header[..ChecksummedHeaderBytes]));
        var actual = Core.Hashing.CopyAndChecksum.Copy(payload[..PayloadLength], destination, seed);
        if (actual != Checksum)
        {
            throw new ChunkFormatException(
                $"Chunk checksum mismatch: header says 0x{Checksum:X16}, content hashes to 0x{actual:X16} (corrupted in storage or transport).");
        }
    }

    /// <summary>Writes this header, with the checksum computed over it and the payload already in place after it.</summary>
    internal ChunkHeader WriteWithChecksum(Span<byte> encoded) => WriteWithChecksum(encoded, encoded.Slice(Size, PayloadLength));

    /// <summary>Writes this header into <paramref name="encoded"/>, with the checksum computed over it and a payload held apart.</summary>
    internal ChunkHeader WriteWithChecksum(Span<byte> encoded, ReadOnlySpan<byte> payload)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(encoded, Magic);
        encoded[4] = (byte)Codec;
        encoded[5] = (byte)DataType;
        BinaryPrimitives.WriteUInt16LittleEndian(encoded[6..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(encoded[8..], RawLength);
        BinaryPrimitives.WriteInt32LittleEndian(encoded[12..], PayloadLength);
        BinaryPrimitives.WriteInt32LittleEndian(encoded[16..], Tokens);
        BinaryPrimitives.WriteInt32LittleEndian(encoded[20..], ChannelsPerToken);
        var checksum = ComputeChecksum(encoded[..ChecksummedHeaderBytes], payload[..PayloadLength]);
        BinaryPrimitives.WriteUInt64LittleEndian(encoded[24..], checksum);
        return this with { Checksum = checksum };
    }

    private static ulong ComputeChecksum(ReadOnlySpan<byte> headerFields, ReadOnlySpan<byte> payload) =>
        XxHash3.HashToUInt64(payload, unchecked((long)XxHash3.HashToUInt64(headerFields)));
}
