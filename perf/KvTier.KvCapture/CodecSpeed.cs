using System.Diagnostics;
using System.Globalization;
using K4os.Compression.LZ4;
using KvTier.Codecs;
using KvTier.Core.Layout;
using ZstdSharp;

namespace KvTier.KvCapture;

/// <summary>
/// A quick speed probe for a shared machine: encode and decode GB/s per core of every codec on a capture's real
/// per-layer block chunks, taking the best of several repetitions (the least-disturbed one), with plain LZ4 and zstd
/// measured in the same run. BenchmarkDotNet (perf/KvTier.Benchmarks, CodecBenchmarks) gives means and errors; on a
/// busy machine its means mostly measure the neighbours, which is why this probe exists.
/// </summary>
internal static class CodecSpeed
{
    private const int Repetitions = 7;

    public static void Run(string directory, int blockTokens, KvDataType dataType)
    {
        var capture = CapturedKv.Load(directory);
        var chunks = capture.BlockChunks(capture.ReadKeysAndValues(dataType), dataType, blockTokens).Select(c => c.Bytes).ToArray();
        var shape = new ChunkShape(dataType, blockTokens, capture.Channels);
        var chunkBytes = chunks[0].Length;
        var total = (double)chunkBytes * chunks.Length;
        Console.WriteLine($"{chunks.Length} chunks of {chunkBytes} bytes ({dataType.Name()}, {blockTokens} tokens), best of {Repetitions}, one thread");
        Console.WriteLine();
        Console.WriteLine("| codec | ratio | encode GB/s | decode GB/s |");
        Console.WriteLine("|---|---:|---:|---:|");

        var lz4Buffer = new byte[LZ4Codec.MaximumOutputSize(chunkBytes)];
        var decoded = new byte[chunkBytes];
        var lz4Encoded = chunks.Select(c => lz4Buffer.AsSpan(0, LZ4Codec.Encode(c, lz4Buffer)).ToArray()).ToArray();
        Print("lz4 (K4os, no framing)", total, lz4Encoded.Sum(e => (long)e.Length),
            Best(total, () => { foreach (var c in chunks) LZ4Codec.Encode(c, lz4Buffer); }),
            Best(total, () => { foreach (var e in lz4Encoded) LZ4Codec.Decode(e, decoded); }));

        foreach (var level in (int[])[1, 3])
        {
            using var compressor = new Compressor(level);
            using var decompressor = new Decompressor();
            var zstdBuffer = new byte[Compressor.GetCompressBound(chunkBytes)];
            var zstdEncoded = chunks.Select(c => compressor.Wrap(c).ToArray()).ToArray();
            Print($"zstd -{level} (ZstdSharp, no framing)", total, zstdEncoded.Sum(e => (long)e.Length),
                Best(total, () => { foreach (var c in chunks) compressor.Wrap(c, zstdBuffer); }),
                Best(total, () => { foreach (var e in zstdEncoded) decompressor.Unwrap(e, decoded); }));
        }

        foreach (var codec in ChunkCodecs.All)
        {
            var buffer = new byte[codec.MaxEncodedLength(chunkBytes, shape)];
            var encoded = chunks.Select(c => buffer.AsSpan(0, codec.Encode(c, shape, buffer)).ToArray()).ToArray();
            Print(codec.Name, total, encoded.Sum(e => (long)e.Length),
                Best(total, () => { foreach (var c in chunks) codec.Encode(c, shape, buffer); }),
                Best(total, () => { foreach (var e in encoded) ChunkCodecs.Decode(e, decoded); }));
        }
    }

    private static void Print(string name, double raw, long encoded, double encodeGBps, double decodeGBps) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {raw / encoded:F3}x | {encodeGBps:F2} | {decodeGBps:F2} |"));

    /// <summary>GB/s of the fastest of <see cref="Repetitions"/> timed passes, each long enough (about 50 ms) to
    /// dwarf the timer, after one warm-up pass.</summary>
    private static double Best(double bytesPerPass, Action pass)
    {
        pass();
        var clock = Stopwatch.StartNew();
        pass();
        var passes = Math.Max(1, (int)(0.05 / Math.Max(1e-6, clock.Elapsed.TotalSeconds)));
        var best = double.MaxValue;
        for (var r = 0; r < Repetitions; r++)
        {
            clock.Restart();
            for (var p = 0; p < passes; p++)
            {
                pass();
            }

            best = Math.Min(best, clock.Elapsed.TotalSeconds / passes);
        }

        return bytesPerPass / best / 1e9;
    }
}
