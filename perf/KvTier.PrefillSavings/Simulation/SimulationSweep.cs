using KvTier.PrefillSavings.Economics;
using KvTier.PrefillSavings.Reporting;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>Runs the infinite bound, the GPU-only baseline and every (node count, policy, capacity) of a config.</summary>
internal static class SimulationSweep
{
    public static SimulationSection Run(PreparedWorkload workload, SavingsConfig config, PrefillProfile profile, long fullBlockBytes,
        Action<string>? progress = null)
    {
        var buckets = config.TimeBuckets;
        var infinite = TierSimulator.Run(workload, CacheConfig.Infinite, buckets);
        var gpuBlocks = (long)(config.GpuCacheGiB * (1L << 30) / fullBlockBytes);
        // A GPU prefix cache (vLLM's) evicts one block when full, with no arena watermarks.
        var gpu = gpuBlocks > 0 ? TierSimulator.Run(workload, new CacheConfig("lru", gpuBlocks, 1), buckets, NodeModel.Exact) : null;
        var gpuPrefix = gpu?.PrefixTokensPerRequest ?? new int[workload.Requests.Count];
        var results = new List<TierResult>();
        var runs = config.SimulateNodes.Count * config.Policies.Count * config.Capacities.Count;
        foreach (var nodes in config.SimulateNodes)
        {
            foreach (var policy in config.Policies)
            {
                foreach (var capacity in config.Capacities)
                {
                    var blocks = CapacitySpec.ToBlocks(capacity, workload.UniqueBlocks, fullBlockBytes);
                    progress?.Invoke($"simulate {results.Count + 1}/{runs}: {policy}, {capacity} ({blocks:N0} blocks), {nodes} node(s)");
                    var outcome = TierSimulator.Run(workload, new CacheConfig(policy, Math.Max(blocks, nodes), nodes), buckets);
                    results.Add(ToResult($"{PolicyName(policy)} {capacity} x{nodes}", outcome, workload, profile, fullBlockBytes, gpuPrefix));
                }
            }
        }

        var span = workload.SpanMs / 60_000.0;
        return new SimulationSection(
            ToResult("infinite", infinite, workload, profile, fullBlockBytes, gpuPrefix),
            gpu is null ? Empty(workload) : ToResult($"GPU-only LRU {config.GpuCacheGiB:0.#} GiB", gpu, workload, profile, fullBlockBytes, gpuPrefix),
            results,
            [.. Enumerable.Range(0, buckets).Select(bucket => span * bucket / buckets)]);
    }

    public static string PolicyName(string policy) => policy switch
    {
        "s3-fifo" => "S3-FIFO",
        "lru" => "LRU",
        _ => policy,
    };

    private static TierResult ToResult(string label, TierOutcome outcome, PreparedWorkload workload, PrefillProfile profile,
        long fullBlockBytes, int[] gpuPrefix)
    {
        long withGpu = 0;
        for (var request = 0; request < gpuPrefix.Length; request++)
        {
            withGpu += Math.Max(gpuPrefix[request], outcome.PrefixTokensPerRequest[request]);
        }

        var config = outcome.Config;
        var gpuSeconds = profile.GpuSeconds(outcome.PrefixHitTokens);
        return new TierResult(
            label,
            config.Policy,
            config.Nodes,
            config.IsInfinite ? null : config.CapacityBlocks,
            config.IsInfinite ? null : (double)config.CapacityBlocks / workload.UniqueBlocks,
            config.IsInfinite ? null : (double)config.CapacityBlocks * fullBlockBytes / (1L << 30),
            outcome.Accesses,
            outcome.PrefixHitBlocks,
            Ratio(outcome.PrefixHitBlocks, outcome.Accesses),
            outcome.PrefixHitTokens,
            Ratio(outcome.PrefixHitTokens, workload.TotalTokens),
            withGpu,
            outcome.StoredBlocks,
            outcome.EvictedBlocks,
            (double)outcome.PrefixHitBlocks * fullBlockBytes / (1L << 30),
            (double)outcome.StoredBlocks * fullBlockBytes / (1L << 30),
            gpuSeconds,
            profile.Dollars(gpuSeconds),
            [.. outcome.HitsPerBucket.Select((hits, bucket) => Ratio(hits, outcome.AccessesPerBucket[bucket]))]);
    }

    private static TierResult Empty(PreparedWorkload workload) =>
        new("GPU-only (none)", "lru", 1, 0, 0, 0, workload.TotalBlocks, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, []);

    internal static double Ratio(long part, long whole) => whole == 0 ? 0 : (double)part / whole;
}
