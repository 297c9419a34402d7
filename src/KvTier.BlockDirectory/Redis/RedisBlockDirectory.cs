using System.Buffers.Binary;
using System.Collections.Immutable;
using System.Diagnostics;
using KvTier.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace KvTier.BlockDirectory.Redis;

/// <summary>
/// The directory on Redis or Redis Cluster. A longest-prefix lookup is one server-side script per span of
/// <see cref="DirectoryKey.SpanLength"/> keys on a cluster (all spans sent at once: one round trip), and one script
/// for the whole chain (in chunks of <see cref="KeysPerScript"/>, also sent at once) on a single server.
/// </summary>
/// <remarks>
/// The store being unreachable never throws into reads: they answer <see cref="PrefixLookup.Unavailable"/> (or false /
/// empty), count it and log one warning per outage; the multiplexer reconnects on its own. Publications made during an
/// outage are counted and dropped (see <see cref="PublishResult.Dropped"/>). Membership is read into a view that
/// lookups reuse for <see cref="RedisDirectoryOptions.MembershipCacheTime"/>.
/// </remarks>
public sealed class RedisBlockDirectory : IBlockDirectory
{
    /// <summary>Most keys handed to one script call; longer batches are split and pipelined.</summary>
    public const int KeysPerScript = 4096;

    private readonly ConnectionMultiplexer connection;
    private readonly RedisDirectoryOptions options;
    private readonly RedisKeys keys;
    private readonly ILogger logger;
    private readonly Lock viewGate = new();
    private MembershipView? view;
    private Task<MembershipView>? refreshing;
    private int unavailable;
    private long lastMalformedWarning = -60_000;
    private int serverKind; // 0: not known yet, 1: a single server, 2: a cluster; learnt from the first connected server

    private RedisBlockDirectory(ConnectionMultiplexer connection, RedisDirectoryOptions options, ILogger logger)
    {
        this.connection = connection;
        this.options = options;
        this.logger = logger;
        keys = new RedisKeys(options.KeyPrefix);
        connection.ConnectionRestored += (_, args) =>
            logger.LogInformation("Directory connection to {Endpoint} restored", args.EndPoint);
    }

    /// <inheritdoc/>
    public DirectoryCounters Counters { get; } = new();

    /// <summary>The underlying multiplexer (for diagnostics; do not close it).</summary>
    public IConnectionMultiplexer Connection => connection;

    private IDatabase Database => connection.GetDatabase(options.Database);

    /// <summary>Connects (or keeps trying in the background when Redis is not there yet: reads miss meanwhile).</summary>
    public static async Task<RedisBlockDirectory> ConnectAsync(RedisDirectoryOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var configuration = options.ToConfiguration();
        var connection = await ConnectionMultiplexer.ConnectAsync(configuration).ConfigureAwait(false);
        return new RedisBlockDirectory(connection, options, logger ?? NullLogger.Instance);
    }

    /// <inheritdoc/>
    public async ValueTask<PrefixLookup> LookupPrefixAsync(NamespaceId ns, ReadOnlyMemory<BlockKey> chain, LookupOptions options = default,
        CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckLength(chain.Length, nameof(chain));
        var leaseMilliseconds = BatchValidation.LeaseMilliseconds(options);
        if (chain.IsEmpty)
        {
            return PrefixLookup.Miss;
        }

        try
        {
            var membership = await GetViewAsync().ConfigureAwait(false);
            var groups = Group(ns, chain.Span);
            var calls = new Task<RedisResult>[groups.Count];
            for (var index = 0; index < groups.Count; index++)
            {
                calls[index] = Database.ScriptEvaluateAsync(DirectoryScripts.Lookup, groups[index].Keys,
                    [membership.LiveBlob, membership.LapsedBlob, "p", leaseMilliseconds]);
            }

            var hits = ImmutableArray.CreateBuilder<BlockHit>();
            long leaseUntil = 0;
            var complete = true;
            var degraded = false;
            for (var index = 0; index < groups.Count; index++)
            {
                RedisResult[] reply;
                try
                {
                    reply = (RedisResult[])(await calls[index].WaitAsync(cancellationToken).ConfigureAwait(false))!;
                }
                catch (Exception exception) when (IsStoreFailure(exception))
                {
                    // One shard of a cluster is unreachable: the prefix ends before its span, the spans before stand.
                    Degrade(exception);
                    degraded |= complete;
                    complete = false;
                    continue;
                }

                ReportMalformed((long)reply[0]);
                if (!complete)
                {
                    continue; // a speculative span after the prefix ended; only its malformed count matters
                }

                leaseUntil = Math.Max(leaseUntil, (long)reply[1]);
                var group = groups[index];
                var answers = (byte[])reply[2]!;
                var offset = 0;
                var answered = 0;
                while (offset < answers.Length)
                {
                    var locations = ReadLocations(answers, ref offset);
                    if (locations.IsEmpty)
                    {
                        complete = false;
                        break;
                    }

                    hits.Add(new BlockHit(chain.Span[group.First + answered], locations));
                    answered++;
                }

                complete &= answered == group.Keys.Length;
            }

            if (!degraded)
            {
                MarkAvailable();
            }

            return hits.Count == 0 && !degraded
                ? PrefixLookup.Miss
                : new PrefixLookup(hits.ToImmutable(), degraded,
                    ReadLeaseUntil: leaseMilliseconds > 0 && leaseUntil > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(leaseUntil) : null);
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            Degrade(exception);
            return PrefixLookup.Unavailable;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<bool[]> ContainsAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        var found = new bool[keys.Count];
        if (keys.Count == 0)
        {
            return found;
        }

        try
        {
            var membership = await GetViewAsync().ConfigureAwait(false);
            var groups = Group(ns, keys);
            var calls = groups.Select(group => Database.ScriptEvaluateAsync(DirectoryScripts.Lookup, group.Keys,
                [membership.LiveBlob, membership.LapsedBlob, "e", 0])).ToArray();
            for (var index = 0; index < groups.Count; index++)
            {
                var reply = (RedisResult[])(await calls[index].WaitAsync(cancellationToken).ConfigureAwait(false))!;
                ReportMalformed((long)reply[0]);
                var answers = (byte[])reply[2]!;
                var offset = 0;
                for (var position = 0; position < groups[index].Keys.Length; position++)
                {
                    found[groups[index].Positions[position]] = !ReadLocations(answers, ref offset).IsEmpty;
                }
            }

            MarkAvailable();
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            Degrade(exception);
            Array.Clear(found);
        }

        return found;
    }

    /// <inheritdoc/>
    public async ValueTask<PublishResult> PublishAsync(NamespaceId ns, IReadOnlyList<BlockPublication> publications,
        CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckPublications(publications);
        if (publications.Count == 0)
        {
            return new PublishResult(0, 0);
        }

        var groups = Group(ns, publications.Select(publication => publication.Key).ToArray());
        var calls = new Task<RedisResult>[groups.Count];
        for (var index = 0; index < groups.Count; index++)
        {
            var group = groups[index];
            var arguments = new RedisValue[group.Keys.Length * 2];
            for (var position = 0; position < group.Keys.Length; position++)
            {
                var publication = publications[group.Positions[position]];
                arguments[2 * position] = RecordFormat.Entry(publication.Location);
                arguments[(2 * position) + 1] = BatchValidation.TtlMilliseconds(publication.TimeToLive);
            }

            calls[index] = Database.ScriptEvaluateAsync(DirectoryScripts.Publish, group.Keys, arguments);
        }

        int published = 0, dropped = 0;
        for (var index = 0; index < groups.Count; index++)
        {
            try
            {
                var refused = (int)(await calls[index].WaitAsync(cancellationToken).ConfigureAwait(false));
                ReportMalformed(refused);
                published += groups[index].Keys.Length - refused;
                dropped += refused;
            }
            catch (Exception exception) when (IsStoreFailure(exception))
            {
                Degrade(exception);
                dropped += groups[index].Keys.Length;
            }
        }

        Counters.AddDropped(dropped);
        return new PublishResult(published, dropped);
    }

    /// <inheritdoc/>
    public async ValueTask<int> UnpublishAsync(NamespaceId ns, NodeId node, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        if (keys.Count == 0)
        {
            return 0;
        }

        var field = RecordFormat.NodeField(node);
        var calls = Group(ns, keys).Select(group => Database.ScriptEvaluateAsync(DirectoryScripts.Unpublish, group.Keys, [field])).ToArray();
        var removed = 0;
        foreach (var call in calls)
        {
            removed += (int)(await call.WaitAsync(cancellationToken).ConfigureAwait(false));
        }

        return removed;
    }

    /// <inheritdoc/>
    public async ValueTask<long> RemoveNodeEntriesAsync(NodeId node, CancellationToken cancellationToken = default)
    {
        var field = (RedisValue)RecordFormat.NodeField(node);
        return await ForEachKeyAsync(keys.AllBlocksPattern,
            async key => (long)await Database.ScriptEvaluateAsync(DirectoryScripts.Unpublish, [key], [field]).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<long> RemoveNamespaceAsync(NamespaceId ns, CancellationToken cancellationToken = default) =>
        await ForEachKeyAsync(keys.NamespacePattern(ns), async key => await Database.KeyDeleteAsync(key).ConfigureAwait(false) ? 1 : 0,
            cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    public async ValueTask<DateTimeOffset?[]> GetReadLeasesAsync(NamespaceId ns, IReadOnlyList<DirectoryKey> keys,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        BatchValidation.CheckLength(keys.Count, nameof(keys));
        var leases = new DateTimeOffset?[keys.Count];
        try
        {
            var groups = Group(ns, keys);
            var calls = groups.Select(group => Database.ScriptEvaluateAsync(DirectoryScripts.Leases, group.Keys)).ToArray();
            for (var index = 0; index < groups.Count; index++)
            {
                var reply = (RedisResult[])(await calls[index].WaitAsync(cancellationToken).ConfigureAwait(false))!;
                for (var position = 0; position < reply.Length; position++)
                {
                    var until = (long)reply[position];
                    leases[groups[index].Positions[position]] = until > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(until) : null;
                }
            }
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            Degrade(exception);
            Array.Clear(leases);
        }

        return leases;
    }

    /// <inheritdoc/>
    public async ValueTask RegisterNodeAsync(NodeInfo node, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        node.Validate();
        BatchValidation.CheckHeartbeatTtl(heartbeatTtl);
        await Database.ScriptEvaluateAsync(DirectoryScripts.Register, [keys.Registry, keys.Node(node.Id)],
            [RecordFormat.NodeField(node.Id), RecordFormat.EncodeNode(node), TtlOf(heartbeatTtl)]).WaitAsync(cancellationToken).ConfigureAwait(false);
        InvalidateView();
    }

    /// <inheritdoc/>
    public async ValueTask<bool> HeartbeatAsync(NodeId node, long freeBytes, TimeSpan heartbeatTtl, CancellationToken cancellationToken = default)
    {
        BatchValidation.CheckHeartbeatTtl(heartbeatTtl);
        ArgumentOutOfRangeException.ThrowIfNegative(freeBytes);
        var free = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(free, freeBytes);
        var outcome = (int)await Database.ScriptEvaluateAsync(DirectoryScripts.Heartbeat, [keys.Node(node)], [free, TtlOf(heartbeatTtl)])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            1 => true,
            0 => false,
            -1 => throw new ArgumentOutOfRangeException(nameof(freeBytes), freeBytes, $"Node {node}: free bytes exceed its registered capacity."),
            _ => throw new InvalidDataException($"Node {node}: the registry holds a record this directory cannot read; register the node again."),
        };
    }

    /// <inheritdoc/>
    public async ValueTask DeregisterNodeAsync(NodeId node, CancellationToken cancellationToken = default)
    {
        await Database.ScriptEvaluateAsync(DirectoryScripts.Deregister, [keys.Registry, keys.Node(node)], [RecordFormat.NodeField(node)])
            .WaitAsync(cancellationToken).ConfigureAwait(false);
        InvalidateView();
    }

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<NodeInfo>> GetLiveNodesAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return (await ReadMembershipAsync().WaitAsync(cancellationToken).ConfigureAwait(false)).Live;
        }
        catch (Exception exception) when (IsStoreFailure(exception))
        {
            Degrade(exception);
            return [];
        }
    }

    /// <inheritdoc/>
    public async ValueTask<SweepResult> SweepAsync(CancellationToken cancellationToken = default)
    {
        var membership = await ReadMembershipAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var removed = await ForEachKeyAsync(keys.AllBlocksPattern,
            async key => (long)await Database.ScriptEvaluateAsync(DirectoryScripts.Sweep, [key], [membership.LiveBlob]).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        var lapsed = 0;
        if (membership.Lapsed.Count > 0)
        {
            RedisValue[] arguments = [keys.NodeKeyBase, .. membership.Lapsed.Select(id => (RedisValue)RecordFormat.NodeField(id))];
            lapsed = (int)await Database.ScriptEvaluateAsync(DirectoryScripts.ForgetLapsed, [keys.Registry], arguments)
                .WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        InvalidateView();
        return new SweepResult(lapsed, removed);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync() => await connection.DisposeAsync().ConfigureAwait(false);

    private static long TtlOf(TimeSpan ttl) => (long)Math.Ceiling(ttl.TotalMilliseconds);

    private static bool IsStoreFailure(Exception exception) =>
        exception is RedisException or TimeoutException or ObjectDisposedException;

    /// <summary>Reads one key's answer (count byte, then 29-byte entries) at <paramref name="offset"/> and moves past it.
    /// Entries that are not valid records are counted as malformed and left out.</summary>
    private ImmutableArray<BlockLocation> ReadLocations(byte[] answers, ref int offset)
    {
        var count = answers[offset++];
        if (count == 0)
        {
            return [];
        }

        var locations = ImmutableArray.CreateBuilder<BlockLocation>(count);
        for (var entry = 0; entry < count; entry++, offset += RecordFormat.EntryLength)
        {
            if (RecordFormat.TryReadLocation(answers.AsSpan(offset, RecordFormat.EntryLength), out var location))
            {
                locations.Add(location);
            }
            else
            {
                ReportMalformed(1);
            }
        }

        return locations.Count == 1 ? [locations[0]] : LocationOrder.Sort(locations);
    }

    /// <summary>Splits keys into script calls: by hash slot tag (namespace, anchor) on a cluster, in order and
    /// consecutive positions; in plain chunks on a single server.</summary>
    private List<KeyGroup> Group(NamespaceId ns, ReadOnlySpan<BlockKey> chain)
    {
        var groups = new List<KeyGroup>();
        var span = IsCluster ? DirectoryKey.SpanLength : KeysPerScript;
        for (var first = 0; first < chain.Length; first += span)
        {
            var count = Math.Min(span, chain.Length - first);
            var groupKeys = new RedisKey[count];
            for (var position = 0; position < count; position++)
            {
                var index = first + position;
                groupKeys[position] = keys.Block(ns, chain[index - (index % DirectoryKey.SpanLength)].High, chain[index]);
            }

            groups.Add(new KeyGroup(first, groupKeys, null!));
        }

        return groups;
    }

    private List<KeyGroup> Group(NamespaceId ns, IReadOnlyList<DirectoryKey> directoryKeys)
    {
        var groups = new List<KeyGroup>();
        if (IsCluster)
        {
            foreach (var tag in Enumerable.Range(0, directoryKeys.Count).GroupBy(index => directoryKeys[index].Anchor.High))
            {
                foreach (var chunk in tag.Chunk(KeysPerScript))
                {
                    groups.Add(new KeyGroup(0, [.. chunk.Select(index => keys.Block(ns, directoryKeys[index]))], chunk));
                }
            }
        }
        else
        {
            foreach (var chunk in Enumerable.Range(0, directoryKeys.Count).Chunk(KeysPerScript))
            {
                groups.Add(new KeyGroup(0, [.. chunk.Select(index => keys.Block(ns, directoryKeys[index]))], chunk));
            }
        }

        return groups;
    }

    private bool IsCluster
    {
        get
        {
            var known = Volatile.Read(ref serverKind);
            if (known != 0)
            {
                return known == 2;
            }

            // Until a server has answered, assume a cluster: per-slot grouping is correct on both kinds.
            foreach (var server in connection.GetServers())
            {
                if (server.IsConnected)
                {
                    var cluster = server.ServerType == ServerType.Cluster;
                    Volatile.Write(ref serverKind, cluster ? 2 : 1);
                    return cluster;
                }
            }

            return true;
        }
    }

    /// <summary>The membership view for a lookup. A stale view is still used while one refresh runs in the background
    /// (stale-while-revalidate), so lookups stay one round trip; with a cache time of zero every lookup waits for a
    /// fresh read.</summary>
    private Task<MembershipView> GetViewAsync()
    {
        lock (viewGate)
        {
            var current = view;
            if (current is not null && Stopwatch.GetElapsedTime(current.TakenAtTimestamp) < options.MembershipCacheTime)
            {
                return Task.FromResult(current);
            }

            if (refreshing is null || refreshing.IsCompleted || options.MembershipCacheTime == TimeSpan.Zero)
            {
                refreshing = RefreshViewAsync();
            }

            if (current is not null && options.MembershipCacheTime > TimeSpan.Zero)
            {
                _ = refreshing.ContinueWith(static task => _ = task.Exception, CancellationToken.None,
                    TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                return Task.FromResult(current);
            }

            return refreshing;
        }
    }

    private async Task<MembershipView> RefreshViewAsync()
    {
        var fresh = await ReadMembershipAsync().ConfigureAwait(false);
        lock (viewGate)
        {
            view = fresh;
        }

        return fresh;
    }

    private void InvalidateView()
    {
        lock (viewGate)
        {
            view = null;
        }
    }

    private async Task<MembershipView> ReadMembershipAsync()
    {
        var taken = Stopwatch.GetTimestamp();
        var reply = (RedisResult[])(await Database.ScriptEvaluateAsync(DirectoryScripts.Members, [keys.Registry], [keys.NodeKeyBase])
            .ConfigureAwait(false))!;
        var live = new List<NodeInfo>();
        var lapsed = new List<NodeId>();
        for (var index = 0; index + 1 < reply.Length; index += 2)
        {
            var field = (byte[])reply[index]!;
            var record = (byte[]?)reply[index + 1];
            if (record is null)
            {
                if (field.Length == 8)
                {
                    lapsed.Add(new NodeId(BinaryPrimitives.ReadUInt64BigEndian(field)));
                }
            }
            else if (RecordFormat.TryReadNode(field, record, out var node))
            {
                live.Add(node!);
            }
            else
            {
                Counters.AddMalformed(1);
                logger.LogWarning("Directory registry holds an unreadable node record ({Length} bytes); the node is treated as absent",
                    record.Length);
            }
        }

        live.Sort((left, right) => left.Id.Value.CompareTo(right.Id.Value));
        return new MembershipView(live, lapsed, taken);
    }

    private async Task<long> ForEachKeyAsync(string pattern, Func<RedisKey, Task<long>> action, CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var server in connection.GetServers())
        {
            if (server.IsReplica)
            {
                continue;
            }

            if (!server.IsConnected)
            {
                throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None,
                    $"Redis server {server.EndPoint} is not connected; the directory scan cannot cover it.");
            }

            var pending = new List<Task<long>>();
            await foreach (var key in server.KeysAsync(options.Database, pattern, pageSize: 1000).WithCancellation(cancellationToken))
            {
                pending.Add(action(key));
                if (pending.Count >= 1000)
                {
                    total += (await Task.WhenAll(pending).ConfigureAwait(false)).Sum();
                    pending.Clear();
                }
            }

            total += (await Task.WhenAll(pending).ConfigureAwait(false)).Sum();
        }

        return total;
    }

    /// <summary>Counts values that are not our records and logs a warning at most once a minute (a foreign writer
    /// can produce them at lookup rate).</summary>
    private void ReportMalformed(long count)
    {
        if (count <= 0)
        {
            return;
        }

        Counters.AddMalformed(count);
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref lastMalformedWarning);
        if (now - last >= 60_000 && Interlocked.CompareExchange(ref lastMalformedWarning, now, last) == last)
        {
            logger.LogWarning("Directory found values under its keys that are not its records ({Total} so far); treated as absent. " +
                "Is another writer using key prefix '{Prefix}'?", Counters.MalformedRecords, options.KeyPrefix);
        }
    }

    private void MarkAvailable()
    {
        if (Interlocked.Exchange(ref unavailable, 0) == 1)
        {
            logger.LogInformation("Directory store reachable again; lookups answer normally");
        }
    }

    private void Degrade(Exception exception)
    {
        Counters.AddDegradedRead();
        if (Interlocked.Exchange(ref unavailable, 1) == 0)
        {
            logger.LogWarning(exception, "Directory store unreachable; lookups answer misses until it is back");
        }
    }

    /// <summary>One script call: its keys, the position of its first key in the chain (chain groups) or each key's
    /// position in the caller's list (list groups).</summary>
    private sealed record KeyGroup(int First, RedisKey[] Keys, int[] Positions);
}
