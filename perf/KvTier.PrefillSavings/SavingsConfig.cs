using KvTier.Workloads;
using KvTier.Workloads.Synthetic;

namespace KvTier.PrefillSavings;

/// <summary>Everything a prefill-savings run was asked to do; written verbatim into the JSON report.</summary>
public sealed record SavingsConfig
{
    /// <summary>"simulate" (no bytes moved), "replay" (real nodes and client) or "both".</summary>
    public string Mode { get; init; } = "both";

    /// <summary>A Mooncake-format trace; null for the built-in synthetic workload.</summary>
    public string? TracePath { get; init; }

    /// <summary>The synthetic workload (used when <see cref="TracePath"/> is null).</summary>
    public SyntheticWorkloadOptions Synthetic { get; init; } = new();

    /// <summary>Scale-down applied to the workload before anything runs.</summary>
    public TraceScaleDown ScaleDown { get; init; } = new();

    /// <summary>Model preset: bytes per block and the prefill profile.</summary>
    public string Model { get; init; } = "llama-3-8b";

    /// <summary>GPU type of the prefill profile.</summary>
    public string Gpu { get; init; } = "H100-SXM";

    /// <summary>Profiles file; null for the one shipped beside the binary.</summary>
    public string? ProfilesPath { get; init; }

    /// <summary>Overrides the profile's prefill throughput.</summary>
    public double? PrefillTokensPerSecond { get; init; }

    /// <summary>Overrides the profile's GPU-hour price.</summary>
    public double? UsdPerGpuHour { get; init; }

    /// <summary>KV memory of the GPU-memory-only prefix cache the tier is compared with, in GiB of full-size blocks (default:
    /// what an 80 GB GPU keeps for idle prefixes after 8B weights, activations and a running batch's KV).</summary>
    public double GpuCacheGiB { get; init; } = 24;

    /// <summary>Simulated tier capacities: "10%" of the workload's unique blocks, "64GiB" of full-size blocks, or a block count.</summary>
    public IReadOnlyList<string> Capacities { get; init; } = ["2%", "5%", "10%", "20%", "40%"];

    /// <summary>Simulated eviction policies.</summary>
    public IReadOnlyList<string> Policies { get; init; } = ["s3-fifo", "lru"];

    /// <summary>Simulated node counts.</summary>
    public IReadOnlyList<int> SimulateNodes { get; init; } = [1, 4];

    /// <summary>Time buckets of the hit-ratio-over-time figures.</summary>
    public int TimeBuckets { get; init; } = 30;

    /// <summary>Replay: cache nodes (1: one in-process node and directory; more: kvtier-node processes and a redis-server).</summary>
    public int ReplayNodes { get; init; } = 1;

    /// <summary>Replay: block payloads are the model's bytes per block divided by this (a power of two up to 512).</summary>
    public int ScaleFactor { get; init; } = 256;

    /// <summary>Replay: the namespace's block codec.</summary>
    public string Codec { get; init; } = "none";

    /// <summary>Replay: host arena of each node, in MiB (the tier's capacity).</summary>
    public int ArenaMiB { get; init; } = 512;

    /// <summary>Replay: throughput (GB/s) at which the TTFT estimate loads full-size blocks into the GPU server: the
    /// deployment's link (25: one 200 Gb/s RDMA NIC). The estimate from the throughput measured here is reported too.</summary>
    public double LinkGBps { get; init; } = 25;

    /// <summary>Replay: most requests replayed, from the start of the workload (0: all).</summary>
    public int ReplayRequests { get; init; }

    /// <summary>Folder the report is written to.</summary>
    public string OutputDirectory { get; init; } = Path.Combine("out", "prefill-savings");

    /// <summary>Whether the simulation runs.</summary>
    public bool Simulates => Mode is "simulate" or "both";

    /// <summary>Whether the replay runs.</summary>
    public bool Replays => Mode is "replay" or "both";

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (Mode is not ("simulate" or "replay" or "both"))
        {
            throw new ArgumentException($"--mode must be simulate, replay or both; got '{Mode}'.");
        }

        if (Policies.Count == 0 || Capacities.Count == 0 || SimulateNodes.Count == 0)
        {
            throw new ArgumentException("At least one policy, one capacity and one node count are needed.");
        }

        foreach (var policy in Policies)
        {
            _ = Simulation.CacheConfig.CreatePolicy(policy);
        }

        if (SimulateNodes.Any(nodes => nodes is < 1 or > 1024))
        {
            throw new ArgumentException($"Node counts must lie in [1, 1024]; got {string.Join(",", SimulateNodes)}.");
        }

        if (ScaleFactor is < 1 or > 512 || (ScaleFactor & (ScaleFactor - 1)) != 0)
        {
            throw new ArgumentException($"--scale must be a power of two in [1, 512] (it divides the 512-token block); got {ScaleFactor}.");
        }

        if (ReplayNodes is < 1 or > 16)
        {
            throw new ArgumentException($"--nodes must lie in [1, 16]; got {ReplayNodes}.");
        }

        if (ArenaMiB is < 16 or > 65536)
        {
            throw new ArgumentException($"--arena-mib must lie in [16, 65536]; got {ArenaMiB}.");
        }

        if (GpuCacheGiB < 0 || !double.IsFinite(GpuCacheGiB))
        {
            throw new ArgumentException($"--gpu-cache-gib must be a finite number >= 0; got {GpuCacheGiB}.");
        }

        if (!(LinkGBps > 0 && double.IsFinite(LinkGBps)))
        {
            throw new ArgumentException($"--link-gbps must be a positive number; got {LinkGBps}.");
        }

        if (TimeBuckets is < 1 or > 1000 || ReplayRequests < 0)
        {
            throw new ArgumentException($"Time buckets must lie in [1, 1000] and the replay request limit must be >= 0; got {TimeBuckets} and {ReplayRequests}.");
        }

        ScaleDown.Validate();
        if (TracePath is null)
        {
            Synthetic.Validate();
        }
    }
}
