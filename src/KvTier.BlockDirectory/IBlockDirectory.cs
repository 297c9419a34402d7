using KvTier.Core;

namespace KvTier.BlockDirectory;

/// <summary>
/// Maps (namespace, block key) to the live copies of the block. A hint, never the truth: the node that holds a block
/// decides whether it is served. Reads never throw because the store is unreachable; they answer with a miss.
/// </summary>
/// <remarks>
/// Both implementations (<see cref="InProcess.InProcessBlockDirectory"/> and <see cref="Redis.RedisBlockDirectory"/>)
/// have the same semantics: an entry is visible when its node is registered with a heartbeat that has not lapsed,
/// the entry's epoch equals the node's current epoch, and the entry's time to live (if any) has not passed. Entries
/// on unknown nodes are accepted and stay invisible until such a node registers; the sweeper removes them.
/// </remarks>
public interface IBlockDirectory : IAsyncDisposable
{
    /// <summary>Longest chain that <see cref="LookupPrefixAsync"/> and the batch operations accept.</summary>
    const int MaxBatchLength = 1 << 20;

    /// <summary>Counters of malformed records, degraded reads and dropped publications.</summary>
    DirectoryCounters Counters { get; }

    /// <summary>
    /// The longest prefix of <paramref name="chain"/> (keys in chain order, starting at position 0) whose every block
    /// has a live copy, with those copies; one round trip to the store regardless of the chain's length.
    /// </summary>
    ValueTask<PrefixLookup> LookupPrefixAsync(NamespaceId ns, ReadOnlyMemory<BlockKey> chain, LookupOptions options = default,
        CancellationToken cancellationToken = default);

    /// <summary>For each key, whether it has a live copy (exact, not prefix, semantics); false where unreachable.</summary>
    ValueTask<bool[]> ContainsAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys, CancellationToken cancellationToken = default);

    /// <summary>Adds or replaces (per block and node) the given locations.</summary>
    ValueTask<PublishResult> PublishAsync(NamespaceId ns, IReadOnlyList<BlockPublication> publications,
        CancellationToken cancellationToken = default);

    /// <summary>Removes the entries of <paramref name="node"/> for the given keys; returns how many existed.</summary>
    ValueTask<int> UnpublishAsync(NamespaceId ns, NodeId node, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default);

    /// <summary>Removes every entry of <paramref name="node"/> in every namespace; returns how many existed.</summary>
    ValueTask<long> RemoveNodeEntriesAsync(NodeId node, CancellationToken cancellationToken = default);

    /// <summary>Removes every entry of namespace <paramref name="ns"/>; returns how many blocks were removed.</summary>
    ValueTask<long> RemoveNamespaceAsync(NamespaceId ns, CancellationToken cancellationToken = default);

    /// <summary>When a lookup leased a key for reading, until when; null where no lease is current.</summary>
    ValueTask<DateTimeOffset?[]> GetReadLeasesAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default);

    /// <summary>Registers (or re-registers) a node; it is live until <paramref name="heartbeatTtl"/> passes without a heartbeat.</summary>
    ValueTask RegisterNodeAsync(NodeInfo node, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default);

    /// <summary>Keeps a registered node live for another <paramref name="heartbeatTtl"/> and records its free space;
    /// false when the node is not live (never registered, deregistered or lapsed): it must register again.</summary>
    ValueTask<bool> HeartbeatAsync(NodeId node, long freeBytes, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default);

    /// <summary>Removes a node from the membership at once (its entries become invisible; the sweeper removes them).</summary>
    ValueTask DeregisterNodeAsync(NodeId node, CancellationToken cancellationToken = default);

    /// <summary>The nodes whose heartbeat has not lapsed; empty where the store is unreachable.</summary>
    ValueTask<IReadOnlyList<NodeInfo>> GetLiveNodesAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes entries of lapsed or unknown nodes, of stale epochs and past their time to live, and drops
    /// lapsed nodes from the registry. <see cref="DirectorySweeper"/> calls it periodically.</summary>
    ValueTask<SweepResult> SweepAsync(CancellationToken cancellationToken = default);
}
