using KvTier.Storage.Eviction;
using KvTier.Workloads;

namespace KvTier.EvictionStudy;

/// <summary>What one policy at one capacity achieved on one trace.</summary>
internal sealed record SimulationResult(string Policy, int CapacityBlocks, long Accesses, long Hits, long PrefixHits)
{
    /// <summary>Share of block accesses that found the block resident.</summary>
    public double HitRatio => (double)Hits / Accesses;

    /// <summary>Share of blocks served as part of a cached prefix (a hit after a miss in the same request does not count).</summary>
    public double PrefixHitRatio => (double)PrefixHits / Accesses;
}

/// <summary>
/// A cache of <c>capacity</c> equal-size blocks driven by a trace: each request's blocks are accessed in order; a
/// resident block is touched, a missing one is stored (evicting through the policy when full). The policy is the
/// storage engine's own class, so the table measures the code that runs on the node.
/// </summary>
internal static class PrefixCacheSimulation
{
    public static SimulationResult Run(IReadOnlyList<TraceRequest> requests, IEvictionPolicy? policy, int capacity, long maxId)
    {
        var resident = new bool[maxId + 1];
        var count = 0;
        long accesses = 0, hits = 0, prefixHits = 0;
        var any = default(AnyVictim);
        foreach (var request in requests)
        {
            var prefixAlive = true;
            foreach (var id in request.HashIds)
            {
                accesses++;
                if (resident[id])
                {
                    hits++;
                    prefixHits += prefixAlive ? 1 : 0;
                    policy?.Touch((int)id);
                    continue;
                }

                prefixAlive = false;
                if (policy is null)
                {
                    resident[id] = true; // the infinite cache
                    continue;
                }

                if (count == capacity)
                {
                    if (!policy.TryEvict(ref any, out var victim))
                    {
                        throw new InvalidOperationException($"{policy.Name} found nothing to evict at {count} blocks.");
                    }

                    resident[victim] = false;
                    count--;
                }

                policy.Insert((int)id, (ulong)id);
                resident[id] = true;
                count++;
            }
        }

        return new SimulationResult(policy?.Name ?? "infinite", policy is null ? int.MaxValue : capacity, accesses, hits, prefixHits);
    }
}
