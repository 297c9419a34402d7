using KvTier.BlockDirectory;
using KvTier.Client;
using KvTier.Storage.Eviction;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>What one simulated tier achieved: totals, and per-request and per-time-bucket detail.</summary>
internal sealed record TierOutcome(
    CacheConfig Config,
    long Accesses,
    long PrefixHitBlocks,
    long PrefixHitTokens,
    long StoredBlocks,
    long EvictedBlocks,
    int[] PrefixTokensPerRequest,
    long[] AccessesPerBucket,
    long[] HitsPerBucket);

/// <summary>
/// Walks a workload through a tier without moving bytes, the way the client and the nodes would: a request's
/// longest resident prefix is a hit (its blocks are read, which the node's policy sees as a touch); the blocks
/// after the first miss are stored unless the directory already lists them (then the store skips them and the node
/// sees nothing). Each node evicts through its own instance of the storage engine's policy class when full, and a
/// block lives on the node the client's <see cref="Placement"/> ranks first.
/// </summary>
internal static class TierSimulator
{
    public static TierOutcome Run(PreparedWorkload workload, CacheConfig config, int buckets, int[]? placement = null)
    {
        var nodes = Enumerable.Range(0, config.Nodes).Select(index => new NodeCache(config, index)).ToArray();
        placement ??= config.Nodes == 1 ? new int[workload.UniqueBlocks] : PlacementOf(workload, config.Nodes);
        var resident = new bool[workload.UniqueBlocks];
        var prefixTokens = new int[workload.Requests.Count];
        var bucketAccesses = new long[buckets];
        var bucketHits = new long[buckets];
        var start = workload.Requests[0].TimestampMs;
        long accesses = 0, hitBlocks = 0, hitTokens = 0, stored = 0, evicted = 0;
        for (var request = 0; request < workload.Requests.Count; request++)
        {
            var chain = workload.Blocks[request];
            var bucket = BucketOf(workload.Requests[request].TimestampMs - start, workload.SpanMs, buckets);
            var prefixAlive = true;
            for (var index = 0; index < chain.Length; index++)
            {
                var block = chain[index];
                var node = nodes[placement[block]];
                accesses++;
                bucketAccesses[bucket]++;
                if (prefixAlive && resident[block])
                {
                    hitBlocks++;
                    bucketHits[bucket]++;
                    var tokens = workload.TokensOf(request, index);
                    hitTokens += tokens;
                    prefixTokens[request] += tokens;
                    node.Policy?.Touch(block);
                    continue;
                }

                prefixAlive = false;
                if (resident[block])
                {
                    continue;
                }

                if (node.Policy is { } policy)
                {
                    if (node.Count == node.Capacity)
                    {
                        var any = default(AnyVictim);
                        if (!policy.TryEvict(ref any, out var victim))
                        {
                            throw new InvalidOperationException($"{policy.Name} found nothing to evict at {node.Count} blocks.");
                        }

                        resident[victim] = false;
                        node.Count--;
                        evicted++;
                    }

                    policy.Insert(block, (ulong)block);
                    node.Count++;
                }

                resident[block] = true;
                stored++;
            }
        }

        return new TierOutcome(config, accesses, hitBlocks, hitTokens, stored, evicted, prefixTokens, bucketAccesses, bucketHits);
    }

    /// <summary>The node each block goes to: the client's rendezvous ranking over equal nodes.</summary>
    public static int[] PlacementOf(PreparedWorkload workload, int nodeCount)
    {
        var nodes = Enumerable.Range(0, nodeCount)
            .Select(index => new NodeInfo(new NodeId((ulong)index + 1), 1, $"node{index}:0", $"node{index}:0", false, 1L << 40, 1L << 40))
            .ToArray();
        var byId = nodes.Select((node, index) => (node.Id, index)).ToDictionary(pair => pair.Id, pair => pair.index);
        var placement = new int[workload.UniqueBlocks];
        for (var block = 0; block < placement.Length; block++)
        {
            placement[block] = byId[Placement.Rank(workload.KeyOf(block), nodes)[0].Id];
        }

        return placement;
    }

    internal static int BucketOf(long elapsedMs, long spanMs, int buckets) =>
        spanMs <= 0 ? 0 : (int)Math.Min(buckets - 1, elapsedMs * buckets / (spanMs + 1));

    private sealed class NodeCache
    {
        public NodeCache(CacheConfig config, int index)
        {
            if (!config.IsInfinite)
            {
                Policy = CacheConfig.CreatePolicy(config.Policy);
                // Split the capacity evenly; the first nodes take the remainder.
                Capacity = (config.CapacityBlocks / config.Nodes) + (index < config.CapacityBlocks % config.Nodes ? 1 : 0);
                if (Capacity < 1)
                {
                    throw new ArgumentException($"Capacity {config.CapacityBlocks} blocks over {config.Nodes} nodes leaves node {index} empty.");
                }
            }
        }

        public IEvictionPolicy? Policy { get; }

        public long Capacity { get; }

        public long Count { get; set; }
    }
}
