using KvTier.Core;
using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// The codec registry: stable names and ids of every codec, and the decoder that dispatches on the chunk header.
/// </summary>
public static class ChunkCodecs
{
    /// <summary>"none": the bytes as they are.</summary>
    public static ChunkCodec None { get; } = new NoneCodec();

    /// <summary>"lz4": LZ4 over the raw bytes.</summary>
    public static ChunkCodec Lz4 { get; } = new Lz4Codec();

    /// <summary>"split-lz4": byte planes, each LZ4-compressed or stored raw.</summary>
    public static ChunkCodec SplitLz4 { get; } = new SplitPlaneCodec(CodecId.SplitLz4, "split-lz4", PlaneCoder.Lz4);

    /// <summary>"split-huffman": byte planes, each Huffman-coded or stored raw (the entropy-coding variant).</summary>
    public static ChunkCodec SplitHuffman { get; } = new SplitPlaneCodec(CodecId.SplitHuffman, "split-huffman", PlaneCoder.Huffman);

    /// <summary>"fp8": lossy FP8 E4M3 with one scale per tensor.</summary>
    public static ChunkCodec Fp8 { get; } = new QuantizingCodec(CodecId.Fp8, "fp8", QuantizedFormat.Float8E4M3, kiviScales: false);

    /// <summary>"fp8-kivi": lossy FP8 E4M3, per-channel key scales and per-token value scales.</summary>
    public static ChunkCodec Fp8Kivi { get; } = new QuantizingCodec(CodecId.Fp8Kivi, "fp8-kivi", QuantizedFormat.Float8E4M3, kiviScales: true);

    /// <summary>"int8-kivi": lossy 8-bit asymmetric integers, per-channel keys and per-token values.</summary>
    public static ChunkCodec Int8Kivi { get; } = new QuantizingCodec(CodecId.Int8Kivi, "int8-kivi", QuantizedFormat.Int8, kiviScales: true);

    /// <summary>"int4-kivi": lossy 4-bit asymmetric integers, per-channel keys and per-token values.</summary>
    public static ChunkCodec Int4Kivi { get; } = new QuantizingCodec(CodecId.Int4Kivi, "int4-kivi", QuantizedFormat.Int4, kiviScales: true);

    /// <summary>Every codec, lossless first.</summary>
    public static IReadOnlyList<ChunkCodec> All { get; } = [None, Lz4, SplitLz4, SplitHuffman, Fp8, Fp8Kivi, Int8Kivi, Int4Kivi];

    // Declared after the codecs: static initialisers run in text order.
    private static readonly ChunkCodec?[] ById = BuildTable();

    /// <summary>Finds a codec by its name (as in <see cref="Core.KvNamespace.Codec"/>; case-insensitive).</summary>
    /// <exception cref="ArgumentException">No codec has that name.</exception>
    public static ChunkCodec Get(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(c => string.Equals(c.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException(
                $"Unknown codec '{name}'. Known: {string.Join(", ", All.Select(c => c.Name))}.", nameof(name));
    }

    /// <summary>The codec a namespace names, checked against its layout: a lossy codec needs fp16, bf16 or fp32 data.
    /// Encode that namespace's chunks with <see cref="ChunkShape.ForLayout"/> of its layout.</summary>
    /// <exception cref="ArgumentException">The codec is unknown, or lossy on a data type it cannot quantize.</exception>
    public static ChunkCodec ForNamespace(KvNamespace kvNamespace)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        var codec = Get(kvNamespace.Codec);
        if (!codec.IsLossless && !ElementConversion.IsQuantizable(kvNamespace.Layout.DataType))
        {
            throw new ArgumentException(
                $"Codec {codec.Name} quantizes fp16, bf16 or fp32 data; namespace {kvNamespace.Id} stores {Core.Layout.KvDataTypes.Name(kvNamespace.Layout.DataType)}.",
                nameof(kvNamespace));
        }

        return codec;
    }

    /// <summary>Finds a codec by its id.</summary>
    /// <exception cref="ArgumentOutOfRangeException">No codec has that id.</exception>
    public static ChunkCodec Get(CodecId id) =>
        (byte)id < ById.Length && ById[(byte)id] is { } codec
            ? codec
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Unknown codec id {(byte)id}.");

    /// <summary>True when <paramref name="id"/> names a codec this library has.</summary>
    public static bool IsKnown(CodecId id) => (byte)id < ById.Length && ById[(byte)id] is not null;

    /// <summary>
    /// Writes only the <see cref="ChunkHeader.Size"/>-byte header of a "none" chunk, whose payload is
    /// <paramref name="chunk"/> itself, so a writer can send the header and the caller's bytes as two pieces instead of
    /// copying them behind the header. The two pieces back to back are exactly what <see cref="None"/> encodes.
    /// </summary>
    /// <exception cref="ArgumentException">The header span is not <see cref="ChunkHeader.Size"/> bytes, or the shape is invalid.</exception>
    public static void WriteNoneHeader(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> header)
    {
        _ = shape.DataType.ElementSize(); // throws for an undefined data type
        if (header.Length != ChunkHeader.Size || shape.Tokens < 0 || shape.ChannelsPerToken < 0)
        {
            throw new ArgumentException($"A chunk header takes {ChunkHeader.Size} bytes (got {header.Length}) and a valid shape ({shape}).", nameof(header));
        }

        new ChunkHeader(CodecId.None, shape.DataType, chunk.Length, chunk.Length, shape.Tokens, shape.ChannelsPerToken, 0)
            .WriteWithChecksum(header, chunk);
    }

    /// <summary>The raw length the chunk decodes to, so callers can size the destination.</summary>
    /// <exception cref="ChunkFormatException">The header is malformed.</exception>
    public static int DecodedLength(ReadOnlySpan<byte> encoded) => ChunkHeader.Read(encoded).RawLength;

    /// <summary>
    /// Verifies and decodes one encoded chunk into <paramref name="destination"/>; returns the bytes written (the raw
    /// length). <paramref name="encoded"/> may be longer than the chunk; nothing outside either span is touched.
    /// </summary>
    /// <param name="encoded">The encoded chunk (header and payload).</param>
    /// <param name="destination">Receives the decoded chunk.</param>
    /// <param name="expectedCodec">When given, a chunk of another codec is rejected.</param>
    /// <exception cref="ChunkFormatException">Truncated, corrupt, of another codec than expected, or the decoded chunk
    /// does not fit <paramref name="destination"/>.</exception>
    public static int Decode(ReadOnlySpan<byte> encoded, Span<byte> destination, CodecId? expectedCodec = null)
    {
        var header = ChunkHeader.Read(encoded);
        CheckFits(header, destination, expectedCodec);
        header.VerifyChecksum(encoded);
        Get(header.Codec).DecodeVerified(encoded.Slice(ChunkHeader.Size, header.PayloadLength), header,
            destination[..header.RawLength]);
        return header.RawLength;
    }

    /// <summary>
    /// Verifies and decodes one encoded chunk whose header and payload are held apart (a reader that received the
    /// headers ahead of the payloads); returns the bytes written (the raw length).
    /// </summary>
    /// <param name="header">The chunk's <see cref="ChunkHeader.Size"/>-byte header.</param>
    /// <param name="payload">The payload; may be longer than the header announces.</param>
    /// <param name="destination">Receives the decoded chunk.</param>
    /// <param name="expectedCodec">When given, a chunk of another codec is rejected.</param>
    /// <exception cref="ChunkFormatException">As <see cref="Decode(ReadOnlySpan{byte}, Span{byte}, CodecId?)"/>.</exception>
    public static int Decode(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload, Span<byte> destination, CodecId? expectedCodec = null)
    {
        var read = ChunkHeader.Read(header, payload.Length);
        CheckFits(read, destination, expectedCodec);
        read.VerifyChecksum(header, payload);
        Get(read.Codec).DecodeVerified(payload[..read.PayloadLength], read, destination[..read.RawLength]);
        return read.RawLength;
    }

    private static void CheckFits(ChunkHeader header, Span<byte> destination, CodecId? expectedCodec)
    {
        if (expectedCodec is { } expected && header.Codec != expected)
        {
            throw new ChunkFormatException(
                $"The chunk is encoded with codec {Get(header.Codec).Name} (id {(byte)header.Codec}), expected {Get(expected).Name} (id {(byte)expected}).");
        }

        if (header.RawLength > destination.Length)
        {
            throw new ChunkFormatException(
                $"The chunk decodes to {header.RawLength} bytes but the destination holds only {destination.Length}.");
        }
    }

    private static ChunkCodec?[] BuildTable()
    {
        var table = new ChunkCodec?[256];
        foreach (var codec in All)
        {
            table[(byte)codec.Id] = codec;
        }

        return table;
    }
}
