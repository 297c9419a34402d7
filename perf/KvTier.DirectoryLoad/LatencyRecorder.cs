using System.Diagnostics;

namespace KvTier.DirectoryLoad;

/// <summary>Runs an operation from several workers for a fixed time and reports rate and latency percentiles.</summary>
internal static class LatencyRecorder
{
    /// <summary>Operations run before measuring (JIT, connection, script cache).</summary>
    public const int WarmUpOperations = 200;

    public static async Task<LoadFigures> RunAsync(Func<ValueTask> operation, int concurrency, TimeSpan duration)
    {
        for (var warm = 0; warm < WarmUpOperations; warm++)
        {
            await operation();
        }

        var samples = new List<long>[concurrency];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var mine = samples[worker] = new List<long>(1 << 16);
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await operation();
                mine.Add(Stopwatch.GetTimestamp() - started);
            }
        })).ToArray();
        await Task.WhenAll(workers);
        var elapsed = clock.Elapsed;
        var all = samples.SelectMany(list => list).ToArray();
        Array.Sort(all);
        double Percentile(double p) => all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1e6 / Stopwatch.Frequency;
        return new LoadFigures(all.Length, all.Length / elapsed.TotalSeconds, Percentile(0.50), Percentile(0.99), Percentile(0.999));
    }
}

/// <summary>Operations, operations per second, and latency percentiles in microseconds.</summary>
internal readonly record struct LoadFigures(long Operations, double PerSecond, double P50Micros, double P99Micros, double P999Micros);
