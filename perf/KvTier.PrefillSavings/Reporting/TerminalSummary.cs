namespace KvTier.PrefillSavings.Reporting;

/// <summary>The table printed at the end of a run (the same figures as report.json).</summary>
public static class TerminalSummary
{
    /// <summary>Writes the summary of <paramref name="report"/>.</summary>
    public static void Write(SavingsReport report, TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(writer);
        var workload = report.Workload;
        writer.WriteLine();
        writer.WriteLine($"Workload: {workload.Name}: {F(workload.Requests, "int")} requests, {F(workload.PromptTokens, "int")} prompt tokens, " +
            $"{F(workload.UniqueBlocks, "int")} unique 512-token blocks, {F(workload.SpanMinutes, "f1")} min.");
        writer.WriteLine($"Model {report.Config.Model} ({F(report.FullBlockBytes / 1048576.0, "f1")} MiB KV per block); prefill " +
            $"{F(report.Profile.PrefillTokensPerSecond, "int")} tokens/s on {report.Profile.Gpu} x{report.Profile.Gpus} (estimate), " +
            $"${F(report.Profile.UsdPerGpuHour, "f2")}/GPU-hour.");
        if (report.Simulation is { } simulation)
        {
            writer.WriteLine();
            writer.WriteLine($"{"tier (simulated)",-28} {"GiB",9} {"blocks hit",10} {"tokens hit",10} {"tokens saved",14} {"+GPU cache",14} {"GPU-h saved",11} {"USD saved",10}");
            foreach (var result in new[] { simulation.InfiniteBound, simulation.GpuOnlyBaseline }.Concat(simulation.Results))
            {
                writer.WriteLine($"{result.Label,-28} {(result.CapacityGiB is { } gib ? F(gib, "f1") : "inf"),9} {F(result.BlockHitRatio, "pct"),10} " +
                    $"{F(result.TokenHitRatio, "pct"),10} {F(result.PrefillTokensSaved, "int"),14} {F(result.PrefillTokensSavedWithGpuCache, "int"),14} " +
                    $"{F(result.GpuSecondsSaved / 3600, "f2"),11} {F(result.UsdSaved, "f2"),10}");
            }
        }

        if (report.Replay is { } replay)
        {
            writer.WriteLine();
            writer.WriteLine($"Replay on {replay.Cluster}: {F(replay.Requests, "int")} requests in {F(replay.WallSeconds, "f1")} s, " +
                $"blocks of {F(replay.ScaledBlockBytes, "int")} bytes (1/{replay.ScaleFactor} of the model's), codec {replay.Codec}.");
            writer.WriteLine($"  block hit ratio {F(replay.BlockHitRatio, "pct")} (simulator at the same capacity: {F(replay.SimulatedBlockHitRatio, "pct")}), " +
                $"token hit ratio {F(replay.TokenHitRatio, "pct")}, {F(replay.PrefillTokensSaved, "int")} prefill tokens saved.");
            writer.WriteLine($"  verified {F(replay.VerifiedBytes, "int")} loaded bytes, {F(replay.MismatchedBlocks, "int")} mismatched blocks; " +
                $"loaded {F(replay.GiBLoaded, "f3")} GiB at {F(replay.LoadGBps, "f2")} GB/s (p50 {F(replay.LoadMs.P50, "f2")} ms, p99 {F(replay.LoadMs.P99, "f2")} ms), " +
                $"stored {F(replay.GiBStored, "f3")} GiB.");
            writer.WriteLine($"  TTFT (estimated) without the tier: p50 {F(replay.TtftWithoutMs.P50, "f1")} ms, p90 {F(replay.TtftWithoutMs.P90, "f1")} ms; " +
                $"with it, loading at {F(replay.LinkGBps, "f1")} GB/s: p50 {F(replay.TtftWithMs.P50, "f1")} ms, p90 {F(replay.TtftWithMs.P90, "f1")} ms; " +
                $"at the throughput measured here: p50 {F(replay.TtftWithMeasuredMs.P50, "f1")} ms, p90 {F(replay.TtftWithMeasuredMs.P90, "f1")} ms.");
            writer.WriteLine($"  prefill GPU-seconds saved {F(replay.GpuSecondsSaved, "f1")}, USD {F(replay.UsdSaved, "f2")}.");
        }
    }

    private static string F(double value, string format) => Figures.Format(value, format);
}
