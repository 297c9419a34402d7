using K4os.Compression.LZ4;

namespace KvTier.Codecs;

/// <summary>One run of bytes stored LZ4-compressed, or raw where LZ4 does not save anything.</summary>
internal static class Lz4Plane
{
    public const byte Raw = 0;
    public const byte Compressed = 1;

    /// <summary>Writes <paramref name="source"/> to <paramref name="destination"/> (at least as long as the source)
    /// compressed or raw, whichever is shorter; returns the bytes written and the mode chosen.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination, out byte mode)
    {
        // LZ4 refuses (returns -1 or 0) when the output would not fit; fitting in source.Length - 1 means it pays.
        var limit = Math.Max(0, source.Length - 1);
        var written = source.Length == 0 ? -1 : LZ4Codec.Encode(source, destination[..limit]);
        if (written > 0 && written < source.Length)
        {
            mode = Compressed;
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
            case Compressed:
                var decoded = LZ4Codec.Decode(stored, destination);
                if (decoded != destination.Length)
                {
                    throw new ChunkFormatException(
                        $"An LZ4 plane of {stored.Length} bytes decoded to {decoded} bytes where {destination.Length} were expected" +
                        (decoded < 0 ? " (malformed LZ4 data)." : "."));
                }

                return;
            default:
                throw new ChunkFormatException($"Unknown plane mode {mode} (0 = raw, 1 = LZ4).");
        }
    }
}
