using KvTier.Core.Layout;
using KvTier.KvCapture;
using KvTier.Testing;

namespace KvTier.Codecs.Tests;

/// <summary>Real and synthetic chunks shared by the codec tests.</summary>
internal static class CodecTestData
{
    public const int BlockTokens = 16;

    private static readonly Lazy<CapturedKv> Capture = new(() =>
        CapturedKv.Load(Path.Combine(RepositoryPaths.Root, "tests", "KvTier.Codecs.Tests", "Fixtures", "minilm")));

    public static CapturedKv Fixture => Capture.Value;

    public static ChunkShape RealShape(KvDataType dataType) => new(dataType, BlockTokens, Fixture.Channels);

    /// <summary>The fixture cut into per-layer chunks of <see cref="BlockTokens"/> tokens.</summary>
    public static IReadOnlyList<BlockChunk> RealChunks(KvDataType dataType) =>
        [.. Fixture.BlockChunks(Fixture.ReadKeysAndValues(dataType), dataType, BlockTokens)];

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Gaussian-like keys where a few channels are 40 times larger, as real LLM keys have.</summary>
    public static byte[] OutlierChannelChunk(KvDataType dataType, int tokens, int channels, int seed)
    {
        var random = new Random(seed);
        var values = new float[2 * tokens * channels];
        for (var i = 0; i < values.Length; i++)
        {
            var gaussian = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            var channel = i % channels;
            var isKey = i < tokens * channels;
            values[i] = gaussian * (isKey && channel % 17 == 3 ? 40f : 1f);
        }

        var bytes = new byte[values.Length * dataType.ElementSize()];
        ElementConversion.FromFloat(values, dataType, bytes);
        return bytes;
    }

    public static byte[] Encode(ChunkCodec codec, ReadOnlySpan<byte> chunk, ChunkShape shape)
    {
        var buffer = new byte[codec.MaxEncodedLength(chunk.Length, shape)];
        var length = codec.Encode(chunk, shape, buffer);
        return buffer.AsSpan(0, length).ToArray();
    }

    public static byte[] Decode(ReadOnlySpan<byte> encoded)
    {
        var decoded = new byte[ChunkCodecs.DecodedLength(encoded)];
        Assert.Equal(decoded.Length, ChunkCodecs.Decode(encoded, decoded));
        return decoded;
    }
}
