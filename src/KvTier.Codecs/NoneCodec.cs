namespace KvTier.Codecs;

/// <summary>"none": the payload is the chunk itself (still framed and checksummed).</summary>
internal sealed class NoneCodec : ChunkCodec
{
    public override CodecId Id => CodecId.None;

    public override string Name => "none";

    public override bool IsLossless => true;

    private protected override int MaxPayloadLength(int rawLength) => rawLength;

    private protected override int EncodePayload(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination)
    {
        chunk.CopyTo(destination);
        return chunk.Length;
    }

    private protected override void DecodePayload(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination)
    {
        if (payload.Length != header.RawLength)
        {
            throw new ChunkFormatException(
                $"A 'none' chunk's payload must equal its raw length {header.RawLength}; it is {payload.Length} bytes.");
        }

        payload.CopyTo(destination);
    }
}
