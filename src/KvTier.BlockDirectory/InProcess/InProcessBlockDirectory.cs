using System.Collections.Concurrent;
using System.Collections.Immutable;
using KvTier.Core;

namespace KvTier.BlockDirectory.InProcess;

/// <summary>
/// The embedded directory for one machine: concurrent dictionaries in this process, no store to lose. Same semantics
/// as <see cref="Redis.RedisBlockDirectory"/>, including the span anchoring of keys.
/// </summary>
public sealed class InProcessBlockDirectory : IBlockDirectory
{
    private readonly ConcurrentDictionary<EntryKey, BlockEntries> entries = new();
    private readonly ConcurrentDictionary<NodeId, NodeState> nodes = new();
    private readonly TimeProvider clock;

    /// <summary>Creates an empty directory that reads time from <paramref name="clock"/> (default: the system clock).</summary>
    public InProcessBlockDirectory(TimeProvider? clock = null) => this.clock = clock ?? TimeProvider.System;

    /// <inheritdoc/>
    public DirectoryCounters Counters { get; } = new();

    private long NowMilliseconds => clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <inheritdoc/>
    public ValueTask<PrefixLookup> LookupPrefixAsync(NamespaceId ns, ReadOnlyMemory<BlockKey> chain, LookupOptions options = default,
        CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckLength(chain.Length, nameof(chain));
        var leaseMilliseconds = BatchValidation.LeaseMilliseconds(options);
        var now = NowMilliseconds;
        var keys = chain.Span;
        var hits = ImmutableArray.CreateBuilder<BlockHit>();
        for (var index = 0; index < keys.Length; index++)
        {
            var key = new EntryKey(ns, keys[index - (index % DirectoryKey.SpanLength)].High, keys[index]);
            if (!entries.TryGetValue(key, out var block))
            {
                break;
            }

            var live = block.LiveLocations(now, nodes, leaseMilliseconds);
            if (live.IsEmpty)
            {
                break;
            }

            hits.Add(new BlockHit(keys[index], live));
        }

        DateTimeOffset? leaseUntil = leaseMilliseconds > 0 && hits.Count > 0
            ? DateTimeOffset.FromUnixTimeMilliseconds(now + leaseMilliseconds)
            : null;
        return ValueTask.FromResult(hits.Count == 0 ? PrefixLookup.Miss : new PrefixLookup(hits.ToImmutable(), ReadLeaseUntil: leaseUntil));
    }

    /// <inheritdoc/>
    public ValueTask<bool[]> ContainsAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        var now = NowMilliseconds;
        var found = new bool[keys.Count];
        for (var index = 0; index < found.Length; index++)
        {
            found[index] = entries.TryGetValue(EntryKey.Of(ns, keys[index]), out var block)
                && !block.LiveLocations(now, nodes, leaseMilliseconds: 0).IsEmpty;
        }

        return ValueTask.FromResult(found);
    }

    /// <inheritdoc/>
    public ValueTask<PublishResult> PublishAsync(NamespaceId ns, IReadOnlyList<BlockPublication> publications,
        CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckPublications(publications);
        var now = NowMilliseconds;
        foreach (var publication in publications)
        {
            var ttl = BatchValidation.TtlMilliseconds(publication.TimeToLive);
            var block = entries.GetOrAdd(EntryKey.Of(ns, publication.Key), static _ => new BlockEntries());
            if (!block.Put(publication.Location, ttl == 0 ? 0 : now + ttl))
            {
                // The block was emptied and dropped by a concurrent remover between GetOrAdd and Put: add it anew.
                entries.AddOrUpdate(EntryKey.Of(ns, publication.Key),
                    _ => BlockEntries.With(publication.Location, ttl == 0 ? 0 : now + ttl),
                    (_, existing) => existing.Put(publication.Location, ttl == 0 ? 0 : now + ttl)
                        ? existing
                        : BlockEntries.With(publication.Location, ttl == 0 ? 0 : now + ttl));
            }
        }

        return ValueTask.FromResult(new PublishResult(publications.Count, 0));
    }

    /// <inheritdoc/>
    public ValueTask<int> UnpublishAsync(NamespaceId ns, NodeId node, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        var removed = 0;
        foreach (var key in keys)
        {
            var entryKey = EntryKey.Of(ns, key);
            if (entries.TryGetValue(entryKey, out var block) && block.Remove(location => location.Node == node) > 0)
            {
                removed++;
                DropIfEmpty(entryKey, block);
            }
        }

        return ValueTask.FromResult(removed);
    }

    /// <inheritdoc/>
    public ValueTask<long> RemoveNodeEntriesAsync(NodeId node, CancellationToken cancellationToken = default)
    {
        long removed = 0;
        foreach (var (key, block) in entries)
        {
            removed += block.Remove(location => location.Node == node);
            DropIfEmpty(key, block);
        }

        return ValueTask.FromResult(removed);
    }

    /// <inheritdoc/>
    public ValueTask<long> RemoveNamespaceAsync(NamespaceId ns, CancellationToken cancellationToken = default)
    {
        long removed = 0;
        foreach (var key in entries.Keys)
        {
            if (key.Namespace == ns && entries.TryRemove(key, out var block))
            {
                block.Remove(_ => true);
                removed++;
            }
        }

        return ValueTask.FromResult(removed);
    }

    /// <inheritdoc/>
    public ValueTask<DateTimeOffset?[]> GetReadLeasesAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        var now = NowMilliseconds;
        var leases = new DateTimeOffset?[keys.Count];
        for (var index = 0; index < leases.Length; index++)
        {
            if (entries.TryGetValue(EntryKey.Of(ns, keys[index]), out var block) && block.LeaseUntilMilliseconds > now)
            {
                leases[index] = DateTimeOffset.FromUnixTimeMilliseconds(block.LeaseUntilMilliseconds);
            }
        }

        return ValueTask.FromResult(leases);
    }

    /// <inheritdoc/>
    public ValueTask RegisterNodeAsync(NodeInfo node, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        node.Validate();
        BatchValidation.CheckHeartbeatTtl(heartbeatTtl);
        nodes[node.Id] = new NodeState(node, NowMilliseconds + (long)Math.Ceiling(heartbeatTtl.TotalMilliseconds));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<bool> HeartbeatAsync(NodeId node, long freeBytes, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckHeartbeatTtl(heartbeatTtl);
        while (true)
        {
            var now = NowMilliseconds;
            if (!nodes.TryGetValue(node, out var state) || state.HeartbeatDeadline <= now)
            {
                return ValueTask.FromResult(false);
            }

            if (freeBytes < 0 || freeBytes > state.Info.CapacityBytes)
            {
                throw new ArgumentOutOfRangeException(nameof(freeBytes), freeBytes,
                    $"Node {node} has capacity {state.Info.CapacityBytes}; free bytes must lie in [0, capacity].");
            }

            var renewed = new NodeState(state.Info with { FreeBytes = freeBytes }, now + (long)Math.Ceiling(heartbeatTtl.TotalMilliseconds));
            if (nodes.TryUpdate(node, renewed, state))
            {
                return ValueTask.FromResult(true);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask DeregisterNodeAsync(NodeId node, CancellationToken cancellationToken = default)
    {
        nodes.TryRemove(node, out _);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask<IReadOnlyList<NodeInfo>> GetLiveNodesAsync(CancellationToken cancellationToken = default)
    {
        var now = NowMilliseconds;
        IReadOnlyList<NodeInfo> live = [.. nodes.Values.Where(state => state.HeartbeatDeadline > now).Select(state => state.Info).OrderBy(info => info.Id.Value)];
        return ValueTask.FromResult(live);
    }

    /// <inheritdoc/>
    public ValueTask<SweepResult> SweepAsync(CancellationToken cancellationToken = default)
    {
        var now = NowMilliseconds;
        var lapsed = 0;
        foreach (var (id, state) in nodes)
        {
            if (state.HeartbeatDeadline <= now && nodes.TryRemove(new KeyValuePair<NodeId, NodeState>(id, state)))
            {
                lapsed++;
            }
        }

        long removed = 0;
        foreach (var (key, block) in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            removed += block.Remove((location, expiresAt) => !IsVisible(location, expiresAt, now));
            DropIfEmpty(key, block);
        }

        return ValueTask.FromResult(new SweepResult(lapsed, removed));
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private bool IsVisible(BlockLocation location, long expiresAt, long now) =>
        (expiresAt == 0 || expiresAt > now)
        && nodes.TryGetValue(location.Node, out var state) && state.HeartbeatDeadline > now && state.Info.Epoch == location.Epoch;

    private void DropIfEmpty(EntryKey key, BlockEntries block)
    {
        if (block.TryRetireIfEmpty())
        {
            entries.TryRemove(new KeyValuePair<EntryKey, BlockEntries>(key, block));
        }
    }

    private readonly record struct EntryKey(NamespaceId Namespace, ulong AnchorHigh, BlockKey Key)
    {
        public static EntryKey Of(NamespaceId ns, DirectoryKey key) => new(ns, key.Anchor.High, key.Key);
    }

    private sealed record NodeState(NodeInfo Info, long HeartbeatDeadline);

    /// <summary>The copies of one block. Guarded by its own lock; retired (never reused) once emptied and dropped.</summary>
    private sealed class BlockEntries
    {
        private readonly Lock gate = new();
        private readonly List<(BlockLocation Location, long ExpiresAt)> copies = new(1);
        private bool retired;

        public long LeaseUntilMilliseconds { get; private set; }

        public static BlockEntries With(BlockLocation location, long expiresAt)
        {
            var block = new BlockEntries();
            block.copies.Add((location, expiresAt));
            return block;
        }

        public bool Put(BlockLocation location, long expiresAt)
        {
            lock (gate)
            {
                if (retired)
                {
                    return false;
                }

                var index = copies.FindIndex(copy => copy.Location.Node == location.Node);
                if (index >= 0)
                {
                    copies[index] = (location, expiresAt);
                }
                else
                {
                    copies.Add((location, expiresAt));
                }

                return true;
            }
        }

        public int Remove(Func<BlockLocation, bool> match) => Remove((location, _) => match(location));

        public int Remove(Func<BlockLocation, long, bool> match)
        {
            lock (gate)
            {
                return copies.RemoveAll(copy => match(copy.Location, copy.ExpiresAt));
            }
        }

        public bool TryRetireIfEmpty()
        {
            lock (gate)
            {
                retired = copies.Count == 0;
                return retired;
            }
        }

        public ImmutableArray<BlockLocation> LiveLocations(long now, ConcurrentDictionary<NodeId, NodeState> nodes, long leaseMilliseconds)
        {
            lock (gate)
            {
                if (copies.Count == 1 && copies[0].ExpiresAt == 0 && leaseMilliseconds == 0
                    && nodes.TryGetValue(copies[0].Location.Node, out var only)
                    && only.HeartbeatDeadline > now && only.Info.Epoch == copies[0].Location.Epoch)
                {
                    return [copies[0].Location]; // the common case, one live copy: no builder, no sort
                }

                var live = ImmutableArray.CreateBuilder<BlockLocation>(copies.Count);
                for (var index = copies.Count - 1; index >= 0; index--)
                {
                    var (location, expiresAt) = copies[index];
                    if (expiresAt != 0 && expiresAt <= now)
                    {
                        copies.RemoveAt(index); // lazy cleanup: past its time to live
                        continue;
                    }

                    if (nodes.TryGetValue(location.Node, out var state) && state.Info.Epoch == location.Epoch)
                    {
                        if (state.HeartbeatDeadline > now)
                        {
                            live.Add(location);
                        }
                        else
                        {
                            copies.RemoveAt(index); // lazy cleanup: the node's heartbeat lapsed
                        }
                    }
                }

                if (live.Count > 0 && leaseMilliseconds > 0)
                {
                    LeaseUntilMilliseconds = Math.Max(LeaseUntilMilliseconds, now + leaseMilliseconds);
                }

                return LocationOrder.Sort(live);
            }
        }
    }
}
