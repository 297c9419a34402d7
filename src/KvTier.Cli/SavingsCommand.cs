using System.Globalization;
using KvTier.PrefillSavings;
using KvTier.PrefillSavings.Reporting;
using KvTier.Workloads;
using KvTier.Workloads.Synthetic;

namespace KvTier.Cli;

/// <summary>
/// "kvtier savings": how much prefill a KvTier tier saves on a workload (a Mooncake-format trace, or the built-in
/// synthetic mix), simulated over capacities, policies and node counts, and replayed through real nodes and the real
/// client; ends with a terminal table and an HTML report. The main job of <c>./build.sh run</c>.
/// </summary>
internal static class SavingsCommand
{
    private static readonly string[] Known =
    [
        "mode", "trace", "requests", "seed", "mix", "shared-prefixes", "skew", "first", "sample", "time-compression",
        "model", "gpu", "profiles", "prefill-tokens-per-second", "usd-per-gpu-hour", "gpu-cache-gib",
        "capacities", "policies", "sim-nodes", "nodes", "scale", "codec", "arena-mib", "replay-requests", "link-gbps", "out",
    ];

    public static int Run(string[] args)
    {
        if (args is ["-h" or "--help" or "help"])
        {
            Console.WriteLine(Usage);
            return 0;
        }

        var options = new CommandOptions(args, Known);
        var defaults = new SavingsConfig();
        var synthetic = new SyntheticWorkloadOptions();
        var mix = ParseMix(options.Get("mix", ""), synthetic);
        var config = new SavingsConfig
        {
            Mode = options.Get("mode", defaults.Mode).ToLowerInvariant(),
            TracePath = options.Get("trace", "") is { Length: > 0 } trace ? Path.GetFullPath(trace) : null,
            Synthetic = mix with
            {
                Requests = options.GetInt("requests", synthetic.Requests, 1, 10_000_000),
                Seed = options.GetInt("seed", synthetic.Seed, 0, int.MaxValue),
                SharedPrefixes = options.GetInt("shared-prefixes", synthetic.SharedPrefixes, 1, 1_000_000),
                PopularitySkew = GetDouble(options, "skew", synthetic.PopularitySkew),
            },
            ScaleDown = new TraceScaleDown
            {
                FirstRequests = options.GetInt("first", 0, 0, int.MaxValue),
                SampleFraction = GetDouble(options, "sample", 1),
                TimeCompression = GetDouble(options, "time-compression", 1),
            },
            Model = options.Get("model", defaults.Model),
            Gpu = options.Get("gpu", defaults.Gpu),
            ProfilesPath = options.Get("profiles", "") is { Length: > 0 } profiles ? Path.GetFullPath(profiles) : null,
            PrefillTokensPerSecond = options.Get("prefill-tokens-per-second", "") is { Length: > 0 } ? GetDouble(options, "prefill-tokens-per-second", 0) : null,
            UsdPerGpuHour = options.Get("usd-per-gpu-hour", "") is { Length: > 0 } ? GetDouble(options, "usd-per-gpu-hour", 0) : null,
            GpuCacheGiB = GetDouble(options, "gpu-cache-gib", defaults.GpuCacheGiB),
            Capacities = List(options.Get("capacities", ""), defaults.Capacities),
            Policies = List(options.Get("policies", ""), defaults.Policies).Select(p => p.ToLowerInvariant()).ToArray(),
            SimulateNodes = List(options.Get("sim-nodes", ""), [.. defaults.SimulateNodes.Select(n => n.ToString(CultureInfo.InvariantCulture))])
                .Select(n => int.TryParse(n, CultureInfo.InvariantCulture, out var count) ? count : throw new ArgumentException($"--sim-nodes: '{n}' is not an integer."))
                .ToArray(),
            ReplayNodes = options.GetInt("nodes", defaults.ReplayNodes, 1, 16),
            ScaleFactor = options.GetInt("scale", defaults.ScaleFactor, 1, 512),
            Codec = options.Get("codec", defaults.Codec),
            ArenaMiB = options.GetInt("arena-mib", defaults.ArenaMiB, 16, 65536),
            ReplayRequests = options.GetInt("replay-requests", 0, 0, int.MaxValue),
            LinkGBps = GetDouble(options, "link-gbps", defaults.LinkGBps),
            OutputDirectory = Path.GetFullPath(options.Get("out", defaults.OutputDirectory)),
        };

        var progress = ProgressLine.ForConsole();
        SavingsReport report;
        string index;
        try
        {
            (report, index) = SavingsJob.RunAsync(config, progress).GetAwaiter().GetResult();
        }
        finally
        {
            progress.Finish();
        }

        TerminalSummary.Write(report, Console.Out);
        Console.WriteLine();
        Console.WriteLine($"Report: {index}");
        Console.WriteLine($"        {Path.Combine(Path.GetDirectoryName(index)!, "report.json")} (every figure and the exact configuration)");
        return report.Replay is { MismatchedBlocks: > 0 } ? 3 : 0;
    }

    private const string Usage = """
        usage: kvtier savings [options]   (every option takes a value)
          --mode simulate|replay|both     simulate: no bytes moved; replay: real nodes and client (default both)
          --trace PATH                    a Mooncake-format trace (default: the built-in synthetic workload); Mooncake
                                          publishes its traces in github.com/kvcache-ai/Mooncake, FAST25-release/traces
          --requests N --seed N           synthetic workload size and seed (3000, 1)
          --mix chat=0.4,agent=0.2,...    synthetic kinds: system-prompt, chat, document-qa, agent
          --shared-prefixes N --skew S    distinct shared prompts/tool sets (documents: 4x) and their Zipf exponent
          --first N --sample F --time-compression X   scale a trace down: first N requests, keep a share, speed up time
          --model NAME --gpu NAME         model preset and GPU of the prefill profile (llama-3-8b, H100-SXM)
          --profiles PATH                 prefill-throughput profiles (default: prefill-profiles.json beside kvtier)
          --prefill-tokens-per-second X --usd-per-gpu-hour X   override the profile
          --gpu-cache-gib X               GPU-memory-only prefix cache of the baseline (24)
          --capacities 2%,64GiB,1000      simulated tier capacities (share of unique blocks, size, or blocks)
          --policies s3-fifo,lru --sim-nodes 1,4   simulated eviction policies and node counts
          --nodes N                       replay nodes: 1 = in-process node and directory; more = kvtier-node
                                          processes with a redis-server directory on loopback
          --scale N --codec NAME --arena-mib N --replay-requests N   replay payload scale-down (power of two),
                                          block codec, arena per node, most requests replayed
          --link-gbps X                   TTFT: load full-size blocks at X GB/s (25: a 200 Gb/s RDMA NIC); the estimate
                                          from the throughput measured here is reported beside it
          --out DIR                       report folder (out/prefill-savings)
        """;

    private static SyntheticWorkloadOptions ParseMix(string text, SyntheticWorkloadOptions synthetic)
    {
        if (text.Length == 0)
        {
            return synthetic;
        }

        var weights = new Dictionary<string, double>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split('=');
            if (pieces.Length != 2 || !double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var weight)
                || pieces[0] is not ("system-prompt" or "chat" or "document-qa" or "agent"))
            {
                throw new ArgumentException($"--mix: '{part}' is not KIND=WEIGHT with KIND one of system-prompt, chat, document-qa, agent.");
            }

            weights[pieces[0]] = weight;
        }

        return synthetic with
        {
            SystemPromptWeight = weights.GetValueOrDefault("system-prompt", 0),
            ChatWeight = weights.GetValueOrDefault("chat", 0),
            DocumentQaWeight = weights.GetValueOrDefault("document-qa", 0),
            AgentWeight = weights.GetValueOrDefault("agent", 0),
        };
    }

    private static string[] List(string text, IReadOnlyList<string> fallback) =>
        text.Length == 0 ? [.. fallback] : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static double GetDouble(CommandOptions options, string name, double fallback)
    {
        var text = options.Get(name, "");
        if (text.Length == 0)
        {
            return fallback;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value
            : throw new ArgumentException($"--{name} must be a number, got '{text}'.");
    }
}
