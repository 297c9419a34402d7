using System.Globalization;
using K4os.Compression.LZ4;
using KvTier.Codecs;
using KvTier.Core.Layout;

namespace KvTier.KvCapture;

/// <summary>
/// Deterministic ratio and error tables for every codec on a capture, cut into per-layer block chunks as a cache
/// stores them; plain LZ4 and zstd over the same chunks are the baselines, and the order-0 entropy of each byte plane
/// bounds what an entropy coder (Huffman, FSE) could gain over split-lz4. Speed is measured by BenchmarkDotNet
/// (perf/KvTier.Benchmarks), not here.
/// </summary>
internal static class CodecEvaluation
{
    public static void Run(string directory, int blockTokens)
    {
        var capture = CapturedKv.Load(directory);
        var metadata = capture.Metadata;
        Console.WriteLine($"### Codec evaluation: {metadata.Model}, {metadata.Tokens} tokens from {string.Join(", ", metadata.Sources)}");
        Console.WriteLine($"Chunks: {metadata.Layers} layers x {metadata.Tokens / blockTokens} blocks of {blockTokens} tokens, " +
            $"{metadata.Heads} heads x {metadata.HeadDim} dims ({2 * blockTokens * capture.Channels} elements per chunk).");
        var queries = capture.ReadQueries();
        foreach (var dataType in (KvDataType[])[KvDataType.BFloat16, KvDataType.Float16])
        {
            var chunks = capture.BlockChunks(capture.ReadKeysAndValues(dataType), dataType, blockTokens).ToList();
            var shape = new ChunkShape(dataType, blockTokens, capture.Channels);
            var raw = chunks.Sum(c => (long)c.Bytes.Length);
            Console.WriteLine();
            Console.WriteLine($"#### {dataType.Name()}: {chunks.Count} chunks, {raw} bytes");
            Console.WriteLine();
            Console.WriteLine("| codec | encoded bytes | ratio | exact |");
            Console.WriteLine("|---|---:|---:|---|");
            foreach (var (name, size) in Baselines(chunks))
            {
                Console.WriteLine($"| {name} (baseline, no header) | {size} | {Ratio(raw, size)} | yes |");
            }

            var lossy = new List<(ChunkCodec Codec, long Size, Accumulator Keys, Accumulator Values, Accumulator Scores)>();
            foreach (var codec in ChunkCodecs.All)
            {
                var encoded = new byte[codec.MaxEncodedLength(shape.ChunkBytes > 0 ? (int)shape.ChunkBytes : 0, shape)];
                var decoded = new byte[shape.ChunkBytes];
                long size = 0;
                var exact = true;
                Accumulator keys = new(), values = new(), scores = new();
                foreach (var chunk in chunks)
                {
                    var length = codec.Encode(chunk.Bytes, shape, encoded);
                    size += length;
                    ChunkCodecs.Decode(encoded.AsSpan(0, length), decoded);
                    exact &= decoded.AsSpan().SequenceEqual(chunk.Bytes);
                    if (!codec.IsLossless)
                    {
                        var (k, v) = TensorError.MeasureChunk(chunk.Bytes, decoded, shape);
                        keys.Add(k);
                        values.Add(v);
                        scores.Add(ScoreError(chunk, decoded, queries, capture, dataType, blockTokens));
                    }
                }

                Console.WriteLine($"| {codec.Name} | {size} | {Ratio(raw, size)} | {(exact ? "yes" : "no")} |");
                if (!codec.IsLossless)
                {
                    lossy.Add((codec, size, keys, values, scores));
                }
            }

            PrintPlaneEntropy(chunks, dataType);
            Console.WriteLine();
            Console.WriteLine($"Lossy codecs on {dataType.Name()} (per tensor of each chunk: worst cosine, worst max-abs error, " +
                "mean and worst relative L2 error; attention scores q.k/sqrt(d) of the block's real queries against its decoded keys, per head):");
            Console.WriteLine();
            Console.WriteLine("| codec | ratio | K cosine min | K max abs | K rel mean / max | V cosine min | V max abs | V rel mean / max | q.k rel mean / max | q.k max abs |");
            Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var (codec, size, keys, values, scores) in lossy)
            {
                Console.WriteLine($"| {codec.Name} | {Ratio(raw, size)} | {keys} | {values} | {scores.Relative} | {F(scores.MaxAbs)} |");
            }
        }
    }

    private static IEnumerable<(string Name, long Size)> Baselines(List<BlockChunk> chunks)
    {
        var buffer = new byte[LZ4Codec.MaximumOutputSize(chunks[0].Bytes.Length)];
        yield return ("lz4 (K4os L00)", chunks.Sum(c => (long)LZ4Codec.Encode(c.Bytes, buffer)));
        yield return ("lz4-hc (K4os L09)", chunks.Sum(c => (long)LZ4Codec.Encode(c.Bytes, buffer, LZ4Level.L09_HC)));
        foreach (var level in (int[])[1, 3, 9])
        {
            using var compressor = new ZstdSharp.Compressor(level);
            yield return ($"zstd -{level}", chunks.Sum(c => (long)compressor.Wrap(c.Bytes).Length));
        }
    }

    /// <summary>Order-0 entropy of each byte plane, summed over chunks: the size a per-chunk Huffman/FSE coder could
    /// at best reach (before its table), against what LZ4 makes of the same plane inside split-lz4.</summary>
    private static void PrintPlaneEntropy(List<BlockChunk> chunks, KvDataType dataType)
    {
        if (dataType.ElementSize() != 2)
        {
            return;
        }

        double highEntropyBytes = 0, lowEntropyBytes = 0;
        long highLz4 = 0, lowLz4 = 0, planeBytes = 0;
        var buffer = new byte[chunks[0].Bytes.Length];
        foreach (var chunk in chunks)
        {
            var count = chunk.Bytes.Length / 2;
            var low = chunk.Bytes.Where((_, i) => i % 2 == 0).ToArray();
            var high = chunk.Bytes.Where((_, i) => i % 2 == 1).ToArray();
            highEntropyBytes += Entropy(high) * count / 8;
            lowEntropyBytes += Entropy(low) * count / 8;
            highLz4 += Math.Min(count, Math.Max(0, LZ4Codec.Encode(high, buffer)) is var h && h > 0 ? h : count);
            lowLz4 += Math.Min(count, Math.Max(0, LZ4Codec.Encode(low, buffer)) is var l && l > 0 ? l : count);
            planeBytes += count;
        }

        Console.WriteLine();
        Console.WriteLine($"Byte planes of {dataType.Name()} ({planeBytes} bytes each): high (sign+exponent) plane LZ4 {highLz4} B " +
            $"vs order-0 entropy {highEntropyBytes:F0} B; low plane LZ4 {lowLz4} B vs entropy {lowEntropyBytes:F0} B. " +
            $"An ideal order-0 coder on both planes would reach ratio {Ratio(2 * planeBytes, (long)(Math.Min(highEntropyBytes, planeBytes) + Math.Min(lowEntropyBytes, planeBytes)))} " +
            $"(split-lz4 reaches {Ratio(2 * planeBytes, highLz4 + lowLz4)} before headers).");
    }

    private static double Entropy(byte[] bytes)
    {
        Span<int> counts = stackalloc int[256];
        foreach (var b in bytes)
        {
            counts[b]++;
        }

        double bits = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                var p = (double)count / bytes.Length;
                bits -= p * Math.Log2(p);
            }
        }

        return bits;
    }

    private static TensorError ScoreError(BlockChunk chunk, byte[] decoded, float[] queries, CapturedKv capture,
        KvDataType dataType, int blockTokens)
    {
        var channels = capture.Channels;
        var headDim = capture.Metadata.HeadDim;
        var original = new float[blockTokens * channels];
        var approximated = new float[blockTokens * channels];
        ElementConversion.ToFloat(chunk.Bytes, dataType, original);
        ElementConversion.ToFloat(decoded, dataType, approximated);
        var queryStart = ((chunk.Layer * capture.Metadata.Tokens) + chunk.FirstToken) * channels;
        var exact = new List<float>();
        var approximate = new List<float>();
        var scale = 1 / MathF.Sqrt(headDim);
        for (var head = 0; head < capture.Metadata.Heads; head++)
        {
            for (var i = 0; i < blockTokens; i++)
            {
                var q = queries.AsSpan(queryStart + (i * channels) + (head * headDim), headDim);
                for (var j = 0; j < blockTokens; j++)
                {
                    var offset = (j * channels) + (head * headDim);
                    exact.Add(Dot(q, original.AsSpan(offset, headDim)) * scale);
                    approximate.Add(Dot(q, approximated.AsSpan(offset, headDim)) * scale);
                }
            }
        }

        return TensorError.Measure(exact.ToArray(), approximate.ToArray());
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var sum = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static string Ratio(long raw, long encoded) => (raw / (double)encoded).ToString("F3", CultureInfo.InvariantCulture) + "x";

    private static string F(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private sealed class Accumulator
    {
        private int count;
        private double relativeSum;

        public double MinCosine { get; private set; } = 1;

        public double MaxAbs { get; private set; }

        public double MaxRelative { get; private set; }

        public string Relative => $"{F(relativeSum / Math.Max(1, count))} / {F(MaxRelative)}";

        public void Add(TensorError error)
        {
            count++;
            relativeSum += error.RelativeError;
            MinCosine = Math.Min(MinCosine, error.CosineSimilarity);
            MaxAbs = Math.Max(MaxAbs, error.MaxAbsoluteError);
            MaxRelative = Math.Max(MaxRelative, error.RelativeError);
        }

        public override string ToString() => $"{MinCosine:F5} | {F(MaxAbs)} | {Relative}";
    }
}
