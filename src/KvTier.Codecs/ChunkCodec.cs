using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// Encodes one per-layer chunk (K then V of a block) into a self-describing header and payload. Instances are
/// stateless and thread-safe; encoding and decoding allocate nothing per call (scratch comes from a pool).
/// Decoding goes through <see cref="ChunkCodecs.Decode(ReadOnlySpan{byte}, Span{byte}, CodecId?)"/>, which reads the codec from the header.
/// </summary>
public abstract class ChunkCodec
{
    private protected ChunkCodec()
    {
    }

    /// <summary>Stable numeric id, written in every chunk header.</summary>
    public abstract CodecId Id { get; }

    /// <summary>Stable name, as recorded in <see cref="Core.KvNamespace.Codec"/>.</summary>
    public abstract string Name { get; }

    /// <summary>True when decoding returns exactly the encoded bytes.</summary>
    public abstract bool IsLossless { get; }

    /// <summary>The most bytes <see cref="Encode"/> writes for a chunk of <paramref name="rawLength"/> bytes.</summary>
    public int MaxEncodedLength(int rawLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rawLength);
        return checked(ChunkHeader.Size + MaxPayloadLength(rawLength));
    }

    /// <summary>The most bytes <see cref="Encode"/> writes for a chunk of <paramref name="rawLength"/> bytes of
    /// <paramref name="shape"/>: tighter than <see cref="MaxEncodedLength(int)"/> for lossy codecs, whose scale
    /// tables depend on the shape.</summary>
    public int MaxEncodedLength(int rawLength, ChunkShape shape)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rawLength);
        return checked(ChunkHeader.Size + MaxPayloadLength(rawLength, shape));
    }

    /// <summary>Encodes <paramref name="chunk"/> into <paramref name="destination"/>; returns the bytes written.</summary>
    /// <exception cref="ArgumentException">The destination is shorter than <see cref="MaxEncodedLength(int, ChunkShape)"/>, the data
    /// type is not one this codec takes, or (lossy codecs) the chunk length does not match the shape.</exception>
    public int Encode(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination)
    {
        _ = shape.DataType.ElementSize(); // throws for an undefined data type
        if (shape.Tokens < 0 || shape.ChannelsPerToken < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(shape), shape, "Tokens and channels per token cannot be negative.");
        }

        ValidateInput(chunk, shape);
        var needed = MaxEncodedLength(chunk.Length, shape);
        if (destination.Length < needed)
        {
            throw new ArgumentException(
                $"The destination holds {destination.Length} bytes; codec {Name} needs up to {needed} for a {chunk.Length}-byte chunk.",
                nameof(destination));
        }

        var payloadLength = EncodePayload(chunk, shape, destination[ChunkHeader.Size..]);
        new ChunkHeader(Id, shape.DataType, chunk.Length, payloadLength, shape.Tokens, shape.ChannelsPerToken, 0)
            .WriteWithChecksum(destination);
        return ChunkHeader.Size + payloadLength;
    }

    /// <summary>The most payload bytes for a chunk of <paramref name="rawLength"/> bytes.</summary>
    private protected abstract int MaxPayloadLength(int rawLength);

    /// <summary>The most payload bytes for a chunk of this shape; by default the shape-free bound.</summary>
    private protected virtual int MaxPayloadLength(int rawLength, ChunkShape shape) => MaxPayloadLength(rawLength);

    /// <summary>Throws <see cref="ArgumentException"/> when this codec cannot encode the chunk.</summary>
    private protected virtual void ValidateInput(ReadOnlySpan<byte> chunk, ChunkShape shape)
    {
    }

    /// <summary>Writes the payload; the destination holds at least <see cref="MaxPayloadLength(int, ChunkShape)"/> bytes.</summary>
    private protected abstract int EncodePayload(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination);

    /// <summary>Decodes a checksum-verified payload into exactly <c>header.RawLength</c> bytes of
    /// <paramref name="destination"/>; throws <see cref="ChunkFormatException"/> when the payload is inconsistent.</summary>
    private protected abstract void DecodePayload(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination);

    internal void DecodeVerified(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination) =>
        DecodePayload(payload, header, destination);
}
