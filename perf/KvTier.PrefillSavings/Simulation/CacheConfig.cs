using KvTier.Storage.Eviction;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>One simulated tier: an eviction policy, a total capacity in blocks split evenly over some nodes.</summary>
/// <param name="Policy">"s3-fifo", "lru" or "infinite" (never evicts).</param>
/// <param name="CapacityBlocks">Blocks the whole tier holds (ignored when infinite).</param>
/// <param name="Nodes">Cache nodes; blocks are placed by the client's weighted rendezvous hashing.</param>
public sealed record CacheConfig(string Policy, long CapacityBlocks, int Nodes)
{
    /// <summary>Policies the simulator accepts: the storage engine's own classes.</summary>
    public static IReadOnlyList<string> KnownPolicies { get; } = ["s3-fifo", "lru"];

    /// <summary>The unbounded cache: every block ever stored stays.</summary>
    public static CacheConfig Infinite { get; } = new("infinite", long.MaxValue, 1);

    /// <summary>Whether the tier never evicts.</summary>
    public bool IsInfinite => Policy == "infinite";

    /// <summary>A fresh instance of the named policy (the class the node's storage engine runs).</summary>
    public static IEvictionPolicy CreatePolicy(string name) => name switch
    {
        "s3-fifo" => new S3FifoPolicy(),
        "lru" => new LruPolicy(),
        _ => throw new ArgumentException($"Unknown eviction policy '{name}'. Known: {string.Join(", ", KnownPolicies)}.", nameof(name)),
    };
}
