using BenchmarkDotNet.Attributes;
using K4os.Compression.LZ4;
using KvTier.Codecs;
using KvTier.Core.Layout;
using KvTier.KvCapture;
using ZstdSharp;

namespace KvTier.Benchmarks;

/// <summary>
/// Encode and decode speed of every codec on real MiniLM K/V chunks (the test fixture, cut into per-layer chunks of
/// 16 tokens: 2 x 16 x 384 elements), beside plain LZ4 (K4os, no framing) and zstd (ZstdSharp) on the same chunks in
/// the same run. One operation is one chunk, so Mean is nanoseconds per chunk: GB/s = ChunkBytes / Mean. One thread.
/// Ratios and errors come from `KvTier.KvCapture evaluate`, which is deterministic.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int BlockTokens = 16;

    private byte[][] chunks = null!;
    private byte[][] encoded = null!;
    private int[] encodedLengths = null!;
    private byte[] scratch = null!;
    private byte[] decoded = null!;
    private ChunkShape shape;
    private ChunkCodec? codec;
    private Compressor? zstdCompressor;
    private Decompressor? zstdDecompressor;

    [Params("none", "lz4", "split-lz4", "split-huffman", "fp8", "fp8-kivi", "int8-kivi", "int4-kivi", "baseline-lz4", "baseline-zstd-1", "baseline-zstd-3")]
    public string Codec { get; set; } = "";

    // bf16 only, to keep runs short on a shared machine; fp16 follows the same code paths (ratios for both come from
    // the evaluate command).
    [Params(KvDataType.BFloat16)]
    public KvDataType DataType { get; set; }

    public int ChunkBytes => chunks[0].Length;

    [GlobalSetup]
    public void Setup()
    {
        var root = FindRepositoryRoot();
        var capture = CapturedKv.Load(Path.Combine(root, "tests", "KvTier.Codecs.Tests", "Fixtures", "minilm"));
        chunks = [.. capture.BlockChunks(capture.ReadKeysAndValues(DataType), DataType, BlockTokens).Select(c => c.Bytes)];
        shape = new ChunkShape(DataType, BlockTokens, capture.Channels);
        codec = Codec.StartsWith("baseline", StringComparison.Ordinal) ? null : ChunkCodecs.Get(Codec);
        if (Codec.StartsWith("baseline-zstd-", StringComparison.Ordinal))
        {
            zstdCompressor = new Compressor(int.Parse(Codec["baseline-zstd-".Length..], System.Globalization.CultureInfo.InvariantCulture));
            zstdDecompressor = new Decompressor();
        }

        var bound = Math.Max(codec?.MaxEncodedLength(chunks[0].Length, shape) ?? 0, LZ4Codec.MaximumOutputSize(chunks[0].Length));
        bound = Math.Max(bound, Compressor.GetCompressBound(chunks[0].Length));
        scratch = new byte[bound];
        decoded = new byte[chunks[0].Length];
        encoded = new byte[chunks.Length][];
        encodedLengths = new int[chunks.Length];
        for (var i = 0; i < chunks.Length; i++)
        {
            encoded[i] = new byte[bound];
            encodedLengths[i] = EncodeOne(chunks[i], encoded[i]);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        zstdCompressor?.Dispose();
        zstdDecompressor?.Dispose();
    }

    [Benchmark(OperationsPerInvoke = 48)]
    public long Encode()
    {
        long total = 0;
        for (var i = 0; i < 48; i++)
        {
            total += EncodeOne(chunks[i % chunks.Length], scratch);
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = 48)]
    public long Decode()
    {
        long total = 0;
        for (var i = 0; i < 48; i++)
        {
            var index = i % chunks.Length;
            var source = encoded[index].AsSpan(0, encodedLengths[index]);
            total += codec is not null ? ChunkCodecs.Decode(source, decoded)
                : zstdDecompressor is not null ? zstdDecompressor.Unwrap(source, decoded)
                : LZ4Codec.Decode(source, decoded);
        }

        return total;
    }

    private int EncodeOne(byte[] chunk, byte[] destination) =>
        codec is not null ? codec.Encode(chunk, shape, destination)
        : zstdCompressor is not null ? zstdCompressor.Wrap(chunk, destination)
        : LZ4Codec.Encode(chunk, destination);

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "KvTier.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No KvTier.sln above {AppContext.BaseDirectory}: run from the repository.");
    }
}
