using K4os.Compression.LZ4;

namespace KvTier.Codecs;

/// <summary>How a plane may be compressed; each plane is stored raw where its coder does not save anything.</summary>
internal enum PlaneCoder
{
    /// <summary>LZ4 (match finding: runs and repeats).</summary>
    Lz4,

    /// <summary>Order-0 Huffman (skewed byte distributions, such as exponents).</summary>
    Huffman,
}

/// <summary>One run of bytes stored raw, LZ4-compressed or Huffman-coded; the mode byte says which.</summary>
internal static class PlaneCoding
{
    public const byte Raw = 0;
    public const byte Lz4 = 1;
    public const byte Huffman = 2;

    /// <summary>The most bytes <see cref="Encode"/> writes for a source of <paramref name="length"/> bytes.</summary>
    public static int MaxLength(int length) => length;

    /// <summary>Writes <paramref name="source"/> to <paramref name="destination"/> (at least as long as the source)
    /// with <paramref name="coder"/> or raw, whichever is shorter; returns the bytes written and the mode chosen.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination, PlaneCoder coder, out byte mode)
    {
        // The limit of source.Length - 1 makes a coder give up as soon as it would not pay.
        var limit = destination[..Math.Max(0, source.Length - 1)];
        var written = source.Length == 0 ? -1 : coder switch
        {
            PlaneCoder.Huffman => HuffmanPlane.Encode(source, limit),
            _ => LZ4Codec.Encode(source, limit),
        };
        if (written > 0 && written < source.Length)
        {
            mode = coder == PlaneCoder.Huffman ? Huffman : Lz4;
            return written;
        }

        source.CopyTo(destination);
        mode = Raw;
        return source.Length;
    }

    /// <summary>Decodes one stored plane into exactly <paramref name="destination"/>.</summary>
    /// <exception cref="ChunkFormatException">The mode is unknown or the data does not decode to the expected length.</exception>
    public static void Decode(byte mode, ReadOnlySpan<byte> stored, Span<byte> destination)
    {
        switch (mode)
        {
            case Raw when stored.Length == destination.Length:
                stored.CopyTo(destination);
                return;
            case Raw:
                throw new ChunkFormatException(
                    $"A raw plane is {stored.Length} bytes where {destination.Length} were expected.");
            case Lz4:
                var decoded = LZ4Codec.Decode(stored, destination);
                if (decoded != destination.Length)
                {
                    throw new ChunkFormatException(
                        $"An LZ4 plane of {stored.Length} bytes decoded to {decoded} bytes where {destination.Length} were expected" +
                        (decoded < 0 ? " (malformed LZ4 data)." : "."));
                }

                return;
            case Huffman:
                HuffmanPlane.Decode(stored, destination);
                return;
            default:
                throw new ChunkFormatException($"Unknown plane mode {mode} (0 = raw, 1 = LZ4, 2 = Huffman).");
        }
    }
}
