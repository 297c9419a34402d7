using System.Diagnostics;

namespace KvTier.DataPlaneLoad;

/// <summary>Operations per second, latency percentiles and CPU time per operation (of every process taking part) of
/// one cell.</summary>
internal readonly record struct Figures(double PerSecond, double P50Ms, double P99Ms, double CpuMsPerOp);

/// <summary>Runs one operation in a closed loop on N concurrent workers for a fixed time.</summary>
internal static class Measurement
{
    private static readonly TimeSpan WarmupTime = TimeSpan.FromSeconds(1);

    /// <summary>Other processes whose CPU time counts (redis-server): on a machine where every system under test is
    /// CPU-bound, CPU time per operation is the steadier figure, less moved by a neighbour's noise than GB/s.</summary>
    public static List<Process> AlsoCounted { get; } = [];

    /// <summary>Warms up with at least <paramref name="warmup"/> operations and one second, then runs <paramref name="clients"/> workers for
    /// <paramref name="duration"/>; each worker owns the state <paramref name="workerState"/> makes for it.</summary>
    public static async Task<Figures> RunAsync<TState>(int clients, TimeSpan duration, Func<int, TState> workerState,
        Func<TState, Random, Task> operation, int warmup = 20)
    {
        // At least `warmup` operations and one second: the first seconds of a fresh process run tier-0 and instrumented
        // code and touch fresh memory, which a cell of a few seconds would otherwise measure.
        var warm = workerState(-1);
        var warming = Stopwatch.StartNew();
        for (var i = 0; i < warmup || warming.Elapsed < WarmupTime; i++)
        {
            await operation(warm, new Random(i));
        }

        var samples = new List<long>[clients];
        var states = Enumerable.Range(0, clients).Select(workerState).ToArray();
        var cpuBefore = CpuTime();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(worker => Task.Run(async () =>
        {
            var mine = samples[worker] = [];
            var random = new Random(worker + 1);
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await operation(states[worker], random);
                mine.Add(Stopwatch.GetTimestamp() - started);
            }
        })));
        var elapsed = clock.Elapsed;
        var cpu = CpuTime() - cpuBefore;
        var all = samples.SelectMany(s => s).Order().ToArray();
        double Ms(double p) => all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1e3 / Stopwatch.Frequency;
        return new Figures(all.Length / elapsed.TotalSeconds, Ms(0.5), Ms(0.99), cpu.TotalMilliseconds / all.Length);
    }

    private static TimeSpan CpuTime()
    {
        var total = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var process in AlsoCounted)
        {
            process.Refresh();
            total += process.TotalProcessorTime;
        }

        return total;
    }
}
