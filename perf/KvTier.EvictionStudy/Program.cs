using System.Globalization;
using KvTier.EvictionStudy;
using KvTier.Storage.Eviction;
using KvTier.Workloads;

// Usage: KvTier.EvictionStudy [trace directory] — prints a Markdown table of prefix-hit ratios (share of block
// accesses served as part of a cached prefix), LRU vs S3-FIFO with three small-queue shares.
//        KvTier.EvictionStudy footprint — index/policy/allocator bytes per block and allocator utilisation.
if (args is ["footprint"])
{
    Footprint.Run();
    return 0;
}

var directory = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "../../../../../../shared/data/traces");
directory = Path.GetFullPath(directory);
if (!Directory.Exists(directory))
{
    Console.Error.WriteLine($"error: trace directory '{directory}' not found; pass it as the first argument.");
    return 2;
}

double[] capacityShares = [0.02, 0.05, 0.10, 0.20, 0.40];
Console.WriteLine("| trace | capacity (blocks) | % of unique blocks | LRU | S3-FIFO (small 10 %, default) | S3-FIFO (small 25 %) | S3-FIFO (small 50 %) |");
Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
foreach (var file in new[] { "conversation_trace.jsonl", "synthetic_trace.jsonl" })
{
    var path = Path.Combine(directory, file);
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"warning: {path} missing; skipped.");
        continue;
    }

    var requests = MooncakeTraceReader.ReadFile(path).ToList();
    var maxId = requests.Max(request => request.HashIds.Length == 0 ? 0 : request.HashIds.Max());
    var unique = requests.SelectMany(request => request.HashIds).Distinct().LongCount();
    var bound = PrefixCacheSimulation.Run(requests, null, 0, maxId);
    foreach (var share in capacityShares)
    {
        var capacity = (int)(unique * share);
        var lru = PrefixCacheSimulation.Run(requests, new LruPolicy(), capacity, maxId);
        var s3 = PrefixCacheSimulation.Run(requests, new S3FifoPolicy(), capacity, maxId);
        var s3Quarter = PrefixCacheSimulation.Run(requests, new S3FifoPolicy(0.25), capacity, maxId);
        var s3Half = PrefixCacheSimulation.Run(requests, new S3FifoPolicy(0.5), capacity, maxId);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {file} | {capacity:N0} | {share:P0} | {lru.PrefixHitRatio:P2} | {s3.PrefixHitRatio:P2} | {s3Quarter.PrefixHitRatio:P2} | {s3Half.PrefixHitRatio:P2} |"));
    }

    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {file} | infinite ({unique:N0} unique) | 100 % | {bound.PrefixHitRatio:P2} | {bound.PrefixHitRatio:P2} | {bound.PrefixHitRatio:P2} | {bound.PrefixHitRatio:P2} |"));
}

return 0;
