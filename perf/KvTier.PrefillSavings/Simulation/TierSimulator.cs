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
/// sees nothing). Each node evicts through its own instance of the storage engine's policy class, between the
/// arena's watermarks (<see cref="NodeModel"/>), and a new block goes to the node the client's <see cref="Placement"/>
/// ranks first, weighing nodes by the free space they reported at their last heartbeat (in trace time).
/// </summary>
internal static class TierSimulator
{
    public static TierOutcome Run(PreparedWorkload workload, CacheConfig config, int buckets, NodeModel? model = null)
    {
        model ??= NodeModel.Default;
        var nodes = Enumerable.Range(0, config.Nodes).Select(index => new NodeCache(config, index, model)).ToArray();
        var placement = new WeightedPlacement(nodes, model.HeartbeatMs);
        var residentOn = new int[workload.UniqueBlocks];
        var resident = new bool[workload.UniqueBlocks];
        var prefixTokens = new int[workload.Requests.Count];
        var bucketAccesses = new long[buckets];
        var bucketHits = new long[buckets];
        var start = workload.Requests[0].TimestampMs;
        long accesses = 0, hitBlocks = 0, hitTokens = 0, stored = 0, evicted = 0;
        for (var request = 0; request < workload.Requests.Count; request++)
        {
            var chain = workload.Blocks[request];
            placement.Advance(workload.Requests[request].TimestampMs);
            var bucket = BucketOf(workload.Requests[request].TimestampMs - start, workload.SpanMs, buckets);
            var prefixAlive = true;
            for (var index = 0; index < chain.Length; index++)
            {
                var block = chain[index];
                accesses++;
                bucketAccesses[bucket]++;
                if (prefixAlive && resident[block])
                {
                    hitBlocks++;
                    bucketHits[bucket]++;
                    var tokens = workload.TokensOf(request, index);
                    hitTokens += tokens;
                    prefixTokens[request] += tokens;
                    nodes[residentOn[block]].Policy?.Touch(block);
                    continue;
                }

                prefixAlive = false;
                if (resident[block])
                {
                    continue;
                }

                var target = config.Nodes == 1 ? 0 : placement.NodeFor(workload.KeyOf(block));
                var node = nodes[target];
                if (node.Policy is { } policy)
                {
                    if (node.Count + 1 > node.HighMark)
                    {
                        // The engine's rule: a store that would pass the high watermark first frees down to the low one.
                        var any = default(AnyVictim);
                        while (node.Count > node.LowMark - 1)
                        {
                            if (!policy.TryEvict(ref any, out var victim))
                            {
                                throw new InvalidOperationException($"{policy.Name} found nothing to evict at {node.Count} blocks.");
                            }

                            resident[victim] = false;
                            node.Count--;
                            evicted++;
                        }
                    }

                    policy.Insert(block, (ulong)block);
                    node.Count++;
                }

                residentOn[block] = target;
                resident[block] = true;
                stored++;
            }
        }

        return new TierOutcome(config, accesses, hitBlocks, hitTokens, stored, evicted, prefixTokens, bucketAccesses, bucketHits);
    }

    internal static int BucketOf(long elapsedMs, long spanMs, int buckets) =>
        spanMs <= 0 ? 0 : (int)Math.Min(buckets - 1, elapsedMs * buckets / (spanMs + 1));

    private sealed class NodeCache
    {
        public NodeCache(CacheConfig config, int index, NodeModel model)
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

                HighMark = model.HighWatermark * Capacity;
                LowMark = (long)(model.LowWatermark * Capacity);
            }
            else
            {
                Capacity = long.MaxValue / 2;
                HighMark = double.MaxValue;
            }
        }

        public IEvictionPolicy? Policy { get; }

        public long Capacity { get; }

        public double HighMark { get; }

        public long LowMark { get; }

        public long Count { get; set; }
    }

    /// <summary>The client's placement over the simulated nodes: their free space (as last reported) is the weight.</summary>
    private sealed class WeightedPlacement
    {
        // Free space in bytes of 1 MiB blocks, so the client's floor of one byte of weight plays no part.
        private const long BytesPerBlock = 1 << 20;
        private readonly NodeCache[] nodes;
        private readonly double heartbeatMs;
        private readonly NodeInfo[] infos;
        private readonly Dictionary<NodeId, int> indexOf = [];
        private double nextHeartbeat = double.MinValue;

        public WeightedPlacement(NodeCache[] nodes, double heartbeatMs)
        {
            this.nodes = nodes;
            this.heartbeatMs = heartbeatMs;
            infos = new NodeInfo[nodes.Length];
            for (var index = 0; index < nodes.Length; index++)
            {
                var id = new NodeId((ulong)index + 1);
                indexOf[id] = index;
                var capacity = Math.Min(nodes[index].Capacity, long.MaxValue / 2 / BytesPerBlock) * BytesPerBlock;
                infos[index] = new NodeInfo(id, 1, $"node{index}:0", $"node{index}:0", false, capacity, capacity);
            }
        }

        /// <summary>Refreshes the weights when a heartbeat is due at <paramref name="nowMs"/> (trace time).</summary>
        public void Advance(long nowMs)
        {
            if (nowMs < nextHeartbeat)
            {
                return;
            }

            nextHeartbeat = nowMs + heartbeatMs;
            for (var index = 0; index < nodes.Length; index++)
            {
                var free = Math.Max(0, infos[index].CapacityBytes - (nodes[index].Count * BytesPerBlock));
                infos[index] = infos[index] with { FreeBytes = free };
            }
        }

        public int NodeFor(Core.BlockKey key) => indexOf[Placement.Rank(key, infos)[0].Id];
    }
}
