using KvTier.Node.Configuration;
using KvTier.Storage;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>
/// The parts of a running node the simulator reproduces besides its eviction policy: the arena's watermarks (eviction
/// starts when a store would pass the high one and frees down to the low one) and how often the node reports its free
/// bytes, which the client's placement weighs nodes by.
/// </summary>
/// <param name="HighWatermark">Share of the capacity a store may not pass without evicting first.</param>
/// <param name="LowWatermark">Share eviction frees down to.</param>
/// <param name="HeartbeatMs">Trace milliseconds between free-bytes reports (placement weights).</param>
public sealed record NodeModel(double HighWatermark, double LowWatermark, double HeartbeatMs)
{
    /// <summary>The production defaults: <see cref="StorageOptions"/> watermarks and the node's heartbeat interval.</summary>
    public static NodeModel Default { get; } = new(
        new StorageOptions().HostHighWatermark,
        new StorageOptions().HostLowWatermark,
        new DirectoryOptions().HeartbeatInterval.TotalMilliseconds);

    /// <summary>A cache that evicts one block exactly when full and reports free space on every store (hand-made tests).</summary>
    public static NodeModel Exact { get; } = new(1, 1, 0);
}
