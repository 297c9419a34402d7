namespace KvTier.Codecs;

/// <summary>"lz4": one LZ4 block over the whole chunk, or the raw bytes when LZ4 does not pay (first payload byte
/// says which). The baseline: mantissa bytes of 16-bit floats look random, so it gains little on KV data.</summary>
internal sealed class Lz4Codec : ChunkCodec
{
    public override CodecId Id => CodecId.Lz4;

    public override string Name => "lz4";

    public override bool IsLossless => true;

    private protected override int MaxPayloadLength(int rawLength) => 1 + rawLength;

    private protected override int EncodePayload(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination) =>
        1 + PlaneCoding.Encode(chunk, destination[1..], PlaneCoder.Lz4, out destination[0]);

    private protected override void DecodePayload(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination)
    {
        if (payload.IsEmpty)
        {
            throw new ChunkFormatException("An 'lz4' chunk's payload is empty; it needs at least its mode byte.");
        }

        PlaneCoding.Decode(payload[0], payload[1..], destination);
    }
}
