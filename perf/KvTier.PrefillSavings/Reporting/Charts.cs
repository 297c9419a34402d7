using ScottPlot;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>The report's PNG charts, drawn with ScottPlot from the report record only.</summary>
internal static class Charts
{
    private const int Width = 1100;
    private const int Height = 480;

    /// <summary>Writes every chart the report has data for; returns (file name, caption) pairs.</summary>
    public static IReadOnlyList<(string File, string Caption)> Write(SavingsReport report, string directory)
    {
        var written = new List<(string, string)>();
        if (report.Simulation is { } simulation)
        {
            written.Add(HitRatioOverTime(report, simulation, directory));
            written.Add(HitRatioVersusCapacity(simulation, directory));
        }

        if (report.Replay is { } replay)
        {
            written.Add(TtftDistribution(replay, directory));
        }

        if (BytesMoved(report, directory) is { } bytes)
        {
            written.Add(bytes);
        }

        return written;
    }

    private static (string, string) HitRatioOverTime(SavingsReport report, SimulationSection simulation, string directory)
    {
        var plot = NewPlot("Prefix hit ratio over time", "minutes from the first request", "block hit ratio (%)");
        var x = simulation.BucketMinutes.ToArray();
        Line(plot, x, simulation.InfiniteBound.HitRatioOverTime, simulation.InfiniteBound.Label, LinePattern.Dashed);
        var firstPolicy = report.Config.Policies[0];
        var firstNodes = report.Config.SimulateNodes[0];
        foreach (var result in simulation.Results.Where(r => r.Policy == firstPolicy && r.Nodes == firstNodes))
        {
            Line(plot, x, result.HitRatioOverTime, result.Label);
        }

        if (report.Replay is { } replay)
        {
            Line(plot, x, replay.HitRatioOverTime, "replay (real nodes)", LinePattern.Dotted);
        }

        Line(plot, x, simulation.GpuOnlyBaseline.HitRatioOverTime, simulation.GpuOnlyBaseline.Label, LinePattern.DenselyDashed);
        plot.Axes.SetLimitsY(0, 100);
        return Save(plot, directory, "hit-ratio-over-time.png", "Block hit ratio per time bucket: infinite bound, each capacity, the replay and the GPU-only baseline.");
    }

    private static (string, string) HitRatioVersusCapacity(SimulationSection simulation, string directory)
    {
        var plot = NewPlot("Prefix hit ratio vs tier capacity", "capacity (% of the workload's unique blocks)", "block hit ratio (%)");
        foreach (var group in simulation.Results.GroupBy(r => (r.Policy, r.Nodes)))
        {
            var points = group.OrderBy(r => r.CapacityShare).ToArray();
            var scatter = plot.Add.Scatter(points.Select(r => r.CapacityShare!.Value * 100).ToArray(), points.Select(r => r.BlockHitRatio * 100).ToArray());
            scatter.LegendText = $"{Simulation.SimulationSweep.PolicyName(group.Key.Policy)}, {group.Key.Nodes} node(s)";
        }

        var bound = plot.Add.HorizontalLine(simulation.InfiniteBound.BlockHitRatio * 100);
        bound.LegendText = "infinite-cache bound";
        bound.LinePattern = LinePattern.Dashed;
        var gpu = plot.Add.HorizontalLine(simulation.GpuOnlyBaseline.BlockHitRatio * 100);
        gpu.LegendText = simulation.GpuOnlyBaseline.Label;
        gpu.LinePattern = LinePattern.Dotted;
        plot.Axes.SetLimitsY(0, 100);
        return Save(plot, directory, "hit-ratio-vs-capacity.png", "Block hit ratio at each simulated capacity, per policy and node count.");
    }

    private static (string, string) TtftDistribution(ReplaySection replay, string directory)
    {
        var plot = NewPlot("Time to first token (estimated), CDF", "TTFT (ms)", "requests (%)");
        Cdf(plot, replay.TtftWithoutMsPerRequest, "without the tier");
        Cdf(plot, replay.TtftWithMsPerRequest, $"with the tier, loads at {replay.LinkGBps:0.#} GB/s");
        Cdf(plot, replay.TtftWithMeasuredMsPerRequest, "with the tier, loads at the throughput measured here");
        // The slowest percent would squeeze the rest into a corner; the tables give p99 and the JSON every request.
        var right = new[] { replay.TtftWithoutMs.P99, replay.TtftWithMs.P99, replay.TtftWithMeasuredMs.P99 }.Max();
        plot.Axes.SetLimits(0, Math.Max(1, right * 1.05), 0, 100);
        return Save(plot, directory, "ttft-distribution.png", "Distribution of the estimated time to first token with and without the tier.");
    }

    private static (string, string)? BytesMoved(SavingsReport report, string directory)
    {
        if (report.Replay is { } replay)
        {
            var plot = NewPlot("Bytes moved by the replay", "minutes from the first request", "GiB per bucket (scaled payloads)");
            var x = Enumerable.Range(0, replay.GiBLoadedOverTime.Count)
                .Select(bucket => report.Workload.SpanMinutes * bucket / replay.GiBLoadedOverTime.Count).ToArray();
            Line(plot, x, replay.GiBLoadedOverTime, "loaded (hits)", LinePattern.Solid, percent: false);
            Line(plot, x, replay.GiBStoredOverTime, "stored (misses)", LinePattern.Solid, percent: false);
            return Save(plot, directory, "bytes-moved.png", "Bytes the replay loaded and stored per time bucket (payloads scaled down by the stated factor).");
        }

        if (report.Simulation is { } simulation)
        {
            var plot = NewPlot("KV bytes moved (full-size blocks)", "capacity (% of unique blocks)", "GiB");
            var first = simulation.Results.Where(r => r.Policy == report.Config.Policies[0] && r.Nodes == report.Config.SimulateNodes[0])
                .OrderBy(r => r.CapacityShare).ToArray();
            var x = first.Select(r => r.CapacityShare!.Value * 100).ToArray();
            plot.Add.Scatter(x, first.Select(r => r.GiBLoaded).ToArray()).LegendText = "loaded (hits)";
            plot.Add.Scatter(x, first.Select(r => r.GiBStored).ToArray()).LegendText = "stored (misses)";
            return Save(plot, directory, "bytes-moved.png", "Full-size KV bytes a tier of each capacity would load and store.");
        }

        return null;
    }

    private static Plot NewPlot(string title, string xLabel, string yLabel)
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        return plot;
    }

    private static void Line(Plot plot, double[] x, IReadOnlyList<double> values, string label, LinePattern? pattern = null, bool percent = true)
    {
        var y = values.Select(value => percent ? value * 100 : value).ToArray();
        if (y.Length != x.Length || y.Length == 0)
        {
            return;
        }

        var line = plot.Add.ScatterLine(x, y);
        line.LegendText = label;
        line.LinePattern = pattern ?? LinePattern.Solid;
        line.LineWidth = 2;
    }

    private static void Cdf(Plot plot, IReadOnlyList<double> values, string label)
    {
        if (values.Count == 0)
        {
            return;
        }

        var sorted = values.Order().ToArray();
        var y = Enumerable.Range(1, sorted.Length).Select(rank => 100.0 * rank / sorted.Length).ToArray();
        var line = plot.Add.ScatterLine(sorted, y);
        line.LegendText = label;
        line.LineWidth = 2;
    }

    private static (string, string) Save(Plot plot, string directory, string file, string caption)
    {
        // Outside the data area, so no line hides behind it.
        plot.ShowLegend(Edge.Right);
        plot.SavePng(Path.Combine(directory, file), Width, Height);
        return (file, caption);
    }
}
