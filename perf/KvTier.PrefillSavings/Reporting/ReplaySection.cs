namespace KvTier.PrefillSavings.Reporting;

/// <summary>Replay mode: real nodes and the real client moved (scaled-down) bytes for every hit and miss.</summary>
/// <param name="Cluster">What served the blocks.</param>
/// <param name="Nodes">Cache nodes.</param>
/// <param name="ScaleFactor">Payload bytes per block are the model's divided by this.</param>
/// <param name="ScaledBlockBytes">Payload bytes of one replayed block (every layer's K and V).</param>
/// <param name="Codec">Block codec of the namespace.</param>
/// <param name="ArenaBytesPerNode">Host arena of each node: the tier's capacity.</param>
/// <param name="Requests">Requests replayed.</param>
/// <param name="BlockAccesses">Blocks requested.</param>
/// <param name="PrefixHitBlocks">Blocks loaded and verified as part of a request's prefix.</param>
/// <param name="BlockHitRatio">PrefixHitBlocks / BlockAccesses.</param>
/// <param name="PrefillTokensSaved">Prompt tokens in the loaded blocks.</param>
/// <param name="TokenHitRatio">PrefillTokensSaved / prompt tokens replayed.</param>
/// <param name="SimulatedBlockHitRatio">The simulator's S3-FIFO figure for the same requests, node count and a capacity of
/// <see cref="CapacityBlocks"/> (a cross-check: the arena also holds block tables and fragments).</param>
/// <param name="CapacityBlocks">Blocks the arenas hold at most (arena bytes / encoded block bytes).</param>
/// <param name="VerifiedBytes">Loaded bytes compared with what was stored.</param>
/// <param name="MismatchedBlocks">Loaded blocks whose bytes differ from what was stored (must be 0).</param>
/// <param name="ShortLoads">Loads that delivered fewer blocks than the lookup promised (evicted in between).</param>
/// <param name="StoredBlocks">Blocks the client stored.</param>
/// <param name="AlreadyCachedBlocks">Blocks a store skipped because the directory or a node had them.</param>
/// <param name="FailedStoreBlocks">Blocks no node accepted.</param>
/// <param name="GiBLoaded">Bytes loaded (scaled payloads).</param>
/// <param name="GiBStored">Bytes stored (scaled payloads).</param>
/// <param name="LookupMs">Directory lookup latency.</param>
/// <param name="LoadMs">Load latency of requests with a hit (scaled payloads).</param>
/// <param name="StoreMs">Store latency of requests that stored.</param>
/// <param name="LoadGBps">Bytes loaded / time spent loading.</param>
/// <param name="StoreGBps">Bytes stored / time spent storing.</param>
/// <param name="TtftWithoutMs">Estimated time to first token without the tier (whole prompt prefilled).</param>
/// <param name="LinkGBps">Throughput the TTFT estimate loads full-size blocks at.</param>
/// <param name="TtftWithMs">Estimated time to first token with the tier: the rest of the prompt prefilled, plus the
/// full-size bytes loaded at <see cref="LinkGBps"/>.</param>
/// <param name="TtftWithMeasuredMs">The same with the load time measured here times <see cref="ScaleFactor"/> (full-size
/// bytes at this machine's loopback throughput).</param>
/// <param name="LoadSlowerThanPrefill">Requests whose load at <see cref="LinkGBps"/> takes longer than prefilling the
/// same tokens.</param>
/// <param name="GpuSecondsSaved">Prefill GPU-seconds the loaded tokens would have cost.</param>
/// <param name="UsdSaved">Those GPU-seconds at the profile's price.</param>
/// <param name="WallSeconds">Duration of the replay.</param>
/// <param name="HitRatioOverTime">Block hit ratio per time bucket.</param>
/// <param name="GiBLoadedOverTime">Bytes loaded per time bucket.</param>
/// <param name="GiBStoredOverTime">Bytes stored per time bucket.</param>
/// <param name="TtftWithoutMsPerRequest">Per request, in replay order.</param>
/// <param name="TtftWithMsPerRequest">Per request, in replay order.</param>
/// <param name="TtftWithMeasuredMsPerRequest">Per request, in replay order.</param>
public sealed record ReplaySection(
    string Cluster,
    int Nodes,
    int ScaleFactor,
    long ScaledBlockBytes,
    string Codec,
    long ArenaBytesPerNode,
    int Requests,
    long BlockAccesses,
    long PrefixHitBlocks,
    double BlockHitRatio,
    long PrefillTokensSaved,
    double TokenHitRatio,
    double SimulatedBlockHitRatio,
    long CapacityBlocks,
    long VerifiedBytes,
    long MismatchedBlocks,
    long ShortLoads,
    long StoredBlocks,
    long AlreadyCachedBlocks,
    long FailedStoreBlocks,
    double GiBLoaded,
    double GiBStored,
    LatencySummary LookupMs,
    LatencySummary LoadMs,
    LatencySummary StoreMs,
    double LoadGBps,
    double StoreGBps,
    double LinkGBps,
    LatencySummary TtftWithoutMs,
    LatencySummary TtftWithMs,
    LatencySummary TtftWithMeasuredMs,
    long LoadSlowerThanPrefill,
    double GpuSecondsSaved,
    double UsdSaved,
    double WallSeconds,
    IReadOnlyList<double> HitRatioOverTime,
    IReadOnlyList<double> GiBLoadedOverTime,
    IReadOnlyList<double> GiBStoredOverTime,
    IReadOnlyList<double> TtftWithoutMsPerRequest,
    IReadOnlyList<double> TtftWithMsPerRequest,
    IReadOnlyList<double> TtftWithMeasuredMsPerRequest);

/// <summary>A latency distribution in milliseconds (zeros when nothing was measured).</summary>
public sealed record LatencySummary(long Count, double Mean, double P50, double P90, double P99, double Max)
{
    /// <summary>Summarises <paramref name="values"/>.</summary>
    public static LatencySummary Of(IReadOnlyCollection<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            return new LatencySummary(0, 0, 0, 0, 0, 0);
        }

        var sorted = values.Order().ToArray();
        double At(double quantile) => sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(quantile * sorted.Length) - 1)];
        return new LatencySummary(sorted.Length, sorted.Average(), At(0.5), At(0.9), At(0.99), sorted[^1]);
    }
}
