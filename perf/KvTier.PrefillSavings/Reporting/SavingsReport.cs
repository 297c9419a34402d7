using KvTier.PrefillSavings.Economics;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>Every figure of a run and the exact configuration that produced it; serialised as report.json, and the
/// only source the terminal summary, the HTML page and the charts read.</summary>
public sealed record SavingsReport(
    DateTimeOffset GeneratedUtc,
    string Machine,
    SavingsConfig Config,
    WorkloadSummary Workload,
    PrefillProfile Profile,
    long FullBlockBytes,
    SimulationSection? Simulation,
    ReplaySection? Replay);

/// <summary>The workload after scale-down.</summary>
public sealed record WorkloadSummary(string Name, int Requests, long BlockAccesses, int UniqueBlocks, long PromptTokens, double SpanMinutes);

/// <summary>Simulate mode: the infinite-cache bound, the GPU-memory-only baseline and every configured tier.</summary>
/// <param name="InfiniteBound">An unbounded tier: the most any tier can save on this workload.</param>
/// <param name="GpuOnlyBaseline">A prefix cache in one replica's GPU memory (LRU), no tier.</param>
/// <param name="Results">Each (node count, policy, capacity).</param>
/// <param name="BucketMinutes">Start of each hit-ratio-over-time bucket, in minutes from the first request.</param>
public sealed record SimulationSection(TierResult InfiniteBound, TierResult GpuOnlyBaseline, IReadOnlyList<TierResult> Results,
    IReadOnlyList<double> BucketMinutes);

/// <summary>What one simulated cache achieved.</summary>
/// <param name="Label">What the row is ("S3-FIFO 10 % x4", "infinite", "GPU-only LRU").</param>
/// <param name="Policy">Eviction policy.</param>
/// <param name="Nodes">Cache nodes.</param>
/// <param name="CapacityBlocks">Blocks held (null: unbounded).</param>
/// <param name="CapacityShare">Capacity over the workload's unique blocks (null: unbounded).</param>
/// <param name="CapacityGiB">Capacity in GiB of full-size blocks (null: unbounded).</param>
/// <param name="BlockAccesses">Blocks requested.</param>
/// <param name="PrefixHitBlocks">Blocks served as part of a cached prefix.</param>
/// <param name="BlockHitRatio">PrefixHitBlocks / BlockAccesses.</param>
/// <param name="PrefillTokensSaved">Prompt tokens in those blocks (prefill not computed).</param>
/// <param name="TokenHitRatio">PrefillTokensSaved / prompt tokens.</param>
/// <param name="PrefillTokensSavedWithGpuCache">Tokens saved when the GPU-only cache sits in front of this tier
/// (per request, the longer of the two prefixes).</param>
/// <param name="StoredBlocks">Blocks written to the tier.</param>
/// <param name="EvictedBlocks">Blocks evicted.</param>
/// <param name="GiBLoaded">Full-size KV loaded from the tier.</param>
/// <param name="GiBStored">Full-size KV stored to the tier.</param>
/// <param name="GpuSecondsSaved">Prefill GPU-seconds the saved tokens would have cost.</param>
/// <param name="UsdSaved">Those GPU-seconds at the profile's price.</param>
/// <param name="HitRatioOverTime">Block hit ratio per time bucket.</param>
public sealed record TierResult(
    string Label,
    string Policy,
    int Nodes,
    long? CapacityBlocks,
    double? CapacityShare,
    double? CapacityGiB,
    long BlockAccesses,
    long PrefixHitBlocks,
    double BlockHitRatio,
    long PrefillTokensSaved,
    double TokenHitRatio,
    long PrefillTokensSavedWithGpuCache,
    long StoredBlocks,
    long EvictedBlocks,
    double GiBLoaded,
    double GiBStored,
    double GpuSecondsSaved,
    double UsdSaved,
    IReadOnlyList<double> HitRatioOverTime);
