using KvTier.Core.Layout;
using KvTier.PrefillSavings.Economics;
using KvTier.PrefillSavings.Replay;
using KvTier.PrefillSavings.Reporting;
using KvTier.PrefillSavings.Simulation;
using KvTier.Workloads;
using KvTier.Workloads.Synthetic;

namespace KvTier.PrefillSavings;

/// <summary>
/// The prefill-savings job: reads or generates the workload, simulates it, replays it through real nodes and the
/// real client, and writes the report (report.json, charts, index.html) into the configured folder.
/// </summary>
public static class SavingsJob
{
    /// <summary>Runs <paramref name="config"/>; progress goes to <paramref name="progress"/>.</summary>
    public static async Task<(SavingsReport Report, string IndexPath)> RunAsync(SavingsConfig config, ProgressLine progress,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(progress);
        config.Validate();
        var preset = ModelPresets.Get(config.Model);
        var profile = Profile(config);
        var fullBlockBytes = preset.ToLayout(KvDataType.BFloat16, TraceRequest.TokensPerBlock).BytesPerBlock;

        progress.Update("reading the workload", force: true);
        var workload = LoadWorkload(config);
        var summary = new WorkloadSummary(workload.Name, workload.Requests.Count, workload.TotalBlocks, workload.UniqueBlocks,
            workload.TotalTokens, workload.SpanMs / 60_000.0);

        SimulationSection? simulation = null;
        if (config.Simulates)
        {
            simulation = SimulationSweep.Run(workload, config, profile, fullBlockBytes, text => progress.Update(text));
        }

        ReplaySection? replay = null;
        if (config.Replays)
        {
            replay = await TraceReplayer.RunAsync(workload, config, preset, profile, progress, cancellationToken);
        }

        progress.Update("writing the report", force: true);
        var report = new SavingsReport(DateTimeOffset.UtcNow, MachineDescription(), config, summary, profile, fullBlockBytes, simulation, replay);
        var index = ReportWriter.Write(report, config.OutputDirectory);
        progress.Finish();
        return (report, index);
    }

    /// <summary>The workload the config names, scaled down.</summary>
    public static PreparedWorkload LoadWorkload(SavingsConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.TracePath is { } path)
        {
            var name = Path.GetFileName(path) + (config.ScaleDown.IsIdentity ? "" : $" (scaled down: {Describe(config.ScaleDown)})");
            return PreparedWorkload.From(name, config.ScaleDown.Apply(MooncakeTraceReader.ReadFile(path)));
        }

        var synthetic = config.Synthetic;
        return PreparedWorkload.From(
            $"synthetic (seed {synthetic.Seed}: {synthetic.Requests:N0} requests, system-prompt/chat/document-QA/agent weights " +
            $"{synthetic.SystemPromptWeight}/{synthetic.ChatWeight}/{synthetic.DocumentQaWeight}/{synthetic.AgentWeight}, " +
            $"{synthetic.SharedPrefixes} shared prefixes, Zipf {synthetic.PopularitySkew})",
            config.ScaleDown.Apply(SyntheticWorkload.Generate(synthetic)));
    }

    private static PrefillProfile Profile(SavingsConfig config)
    {
        var profile = PrefillProfiles.Find(PrefillProfiles.Read(config.ProfilesPath ?? PrefillProfiles.ShippedPath), config.Model, config.Gpu);
        if (config.PrefillTokensPerSecond is { } throughput)
        {
            profile = profile with { PrefillTokensPerSecond = throughput, Source = "--prefill-tokens-per-second" };
        }

        if (config.UsdPerGpuHour is { } price)
        {
            profile = profile with { UsdPerGpuHour = price };
        }

        profile.Validate();
        return profile;
    }

    private static string Describe(TraceScaleDown scaleDown) =>
        string.Join(", ", new[]
        {
            scaleDown.FirstRequests > 0 ? $"first {scaleDown.FirstRequests:N0}" : null,
            scaleDown.SampleFraction < 1 ? $"sample {scaleDown.SampleFraction:P0}" : null,
            scaleDown.TimeCompression != 1 ? $"time / {scaleDown.TimeCompression}" : null,
        }.OfType<string>());

    private static string MachineDescription() =>
        $"{Environment.MachineName}: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
}
