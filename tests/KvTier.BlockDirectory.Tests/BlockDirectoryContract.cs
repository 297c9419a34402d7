using KvTier.Core;

namespace KvTier.BlockDirectory.Tests;

/// <summary>
/// The semantics every <see cref="IBlockDirectory"/> must have; run against the in-process directory, a single
/// redis-server and a three-master Redis Cluster by the subclasses.
/// </summary>
public abstract class BlockDirectoryContract : IAsyncLifetime
{
    private static readonly TimeSpan LongTtl = TimeSpan.FromMinutes(5);

    protected IBlockDirectory Directory { get; private set; } = null!;

    protected NamespaceId Ns { get; } = TestChains.NewNamespace();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => Directory = await CreateDirectoryAsync();

    public async ValueTask DisposeAsync()
    {
        await Directory.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>A new, empty directory whose keys no other test sees.</summary>
    protected abstract Task<IBlockDirectory> CreateDirectoryAsync();

    protected async Task<NodeInfo> RegisteredNodeAsync(ulong epoch = 1, TimeSpan? heartbeatTtl = null)
    {
        var node = TestChains.NewNode(epoch);
        await Directory.RegisterNodeAsync(node, heartbeatTtl ?? LongTtl, Token);
        return node;
    }

    [Fact]
    public async Task An_empty_chain_is_a_miss()
    {
        var result = await Directory.LookupPrefixAsync(Ns, ReadOnlyMemory<BlockKey>.Empty, cancellationToken: Token);

        Assert.Equal(0, result.HitCount);
        Assert.False(result.Degraded);
    }

    [Fact]
    public async Task A_published_prefix_is_found_with_each_block_location()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(150);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 100), Token);

        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);

        Assert.Equal(100, result.HitCount);
        for (var index = 0; index < 100; index++)
        {
            Assert.Equal(chain[index], result.Hits[index].Key);
            Assert.Equal([TestChains.At(node, index)], result.Hits[index].Locations);
        }
    }

    [Fact]
    public async Task The_prefix_ends_at_the_first_missing_key_even_when_later_keys_exist()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(300);
        await Directory.PublishAsync(Ns, [.. TestChains.Publications(chain, node, 0, 70), .. TestChains.Publications(chain, node, 71, 229)], Token);

        Assert.Equal(70, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain.AsMemory(71), cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task A_chain_spanning_many_spans_is_found_whole()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(515);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, chain.Length), Token);

        Assert.Equal(515, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task Copies_on_two_nodes_are_both_reported_host_tier_first()
    {
        var first = await RegisteredNodeAsync();
        var second = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(3);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, first, 0, 3, tier: StorageTier.Nvme), Token);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, second, 0, 3), Token);

        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);

        Assert.Equal(3, result.HitCount);
        Assert.Equal([TestChains.At(second, 0), TestChains.At(first, 0, StorageTier.Nvme)], result.Hits[0].Locations);
    }

    [Fact]
    public async Task Publishing_again_from_the_same_node_replaces_its_location()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(1);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 1), Token);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 1, tier: StorageTier.Nvme), Token);

        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);

        Assert.Equal([TestChains.At(node, 0, StorageTier.Nvme)], Assert.Single(result.Hits).Locations);
    }

    [Fact]
    public async Task Exact_existence_answers_every_key_independently()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(200);
        var present = Enumerable.Range(0, 200).Where(index => index % 3 == 1).ToHashSet();
        await Directory.PublishAsync(Ns, [.. present.SelectMany(index => TestChains.Publications(chain, node, index, 1))], Token);

        var found = await Directory.ContainsAsync(Ns, DirectoryKey.ForChain(chain), Token);

        Assert.Equal(Enumerable.Range(0, 200).Select(present.Contains), found);
    }

    [Fact]
    public async Task Keys_of_another_namespace_are_invisible()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(10);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 10), Token);
        var other = TestChains.NewNamespace();

        Assert.Equal(0, (await Directory.LookupPrefixAsync(other, chain, cancellationToken: Token)).HitCount);
        Assert.All(await Directory.ContainsAsync(other, DirectoryKey.ForChain(chain), Token), Assert.False);
        Assert.Equal(10, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task Unpublishing_removes_only_that_node_copy()
    {
        var first = await RegisteredNodeAsync();
        var second = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(4);
        await Directory.PublishAsync(Ns, [.. TestChains.Publications(chain, first, 0, 4), .. TestChains.Publications(chain, second, 0, 2)], Token);

        var removed = await Directory.UnpublishAsync(Ns, first.Id, DirectoryKey.ForChain(chain), Token);
        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);

        Assert.Equal(4, removed);
        Assert.Equal(2, result.HitCount);
        Assert.All(result.Hits, hit => Assert.Equal(second.Id, Assert.Single(hit.Locations).Node));
        Assert.Equal(0, await Directory.UnpublishAsync(Ns, new NodeId(12345), DirectoryKey.ForChain(chain), Token));
    }

    [Fact]
    public async Task Removing_a_node_entries_covers_every_namespace_and_spares_other_nodes()
    {
        var leaving = await RegisteredNodeAsync();
        var staying = await RegisteredNodeAsync();
        var otherNs = TestChains.NewNamespace();
        var chain = TestChains.NewChain(5);
        var otherChain = TestChains.NewChain(5);
        await Directory.PublishAsync(Ns, [.. TestChains.Publications(chain, leaving, 0, 5), .. TestChains.Publications(chain, staying, 0, 5)], Token);
        await Directory.PublishAsync(otherNs, TestChains.Publications(otherChain, leaving, 0, 5), Token);

        var removed = await Directory.RemoveNodeEntriesAsync(leaving.Id, Token);

        Assert.Equal(10, removed);
        Assert.Equal(0, (await Directory.LookupPrefixAsync(otherNs, otherChain, cancellationToken: Token)).HitCount);
        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.Equal(5, result.HitCount);
        Assert.All(result.Hits, hit => Assert.Equal(staying.Id, Assert.Single(hit.Locations).Node));
    }

    [Fact]
    public async Task Removing_a_namespace_leaves_other_namespaces()
    {
        var node = await RegisteredNodeAsync();
        var otherNs = TestChains.NewNamespace();
        var chain = TestChains.NewChain(70);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 70), Token);
        await Directory.PublishAsync(otherNs, TestChains.Publications(chain, node, 0, 70), Token);

        var removed = await Directory.RemoveNamespaceAsync(Ns, Token);

        Assert.Equal(70, removed);
        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
        Assert.Equal(70, (await Directory.LookupPrefixAsync(otherNs, chain, cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task An_entry_with_a_time_to_live_disappears_and_one_without_stays()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(2);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 1), Token);
        // Long enough that a loaded machine still sees the entry before it expires.
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 1, 1, ttl: TimeSpan.FromSeconds(2)), Token);
        Assert.Equal(2, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);

        await TestChains.EventuallyAsync(async () => (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount == 1,
            "the entry with a 2 s time to live expired");

        Assert.Equal(new[] { true, false }, await Directory.ContainsAsync(Ns, DirectoryKey.ForChain(chain), Token));
    }

    [Fact]
    public async Task Entries_on_an_unknown_node_stay_invisible_until_it_registers()
    {
        var node = TestChains.NewNode();
        var chain = TestChains.NewChain(3);
        var result = await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 3), Token);
        Assert.Equal(new PublishResult(3, 0), result);
        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);

        await Directory.RegisterNodeAsync(node, LongTtl, Token);

        Assert.Equal(3, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task Entries_of_an_older_epoch_are_invisible_after_the_node_restarts()
    {
        var node = await RegisteredNodeAsync(epoch: 7);
        var chain = TestChains.NewChain(3);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 3), Token);

        await Directory.RegisterNodeAsync(node with { Epoch = 8 }, LongTtl, Token);

        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
        Assert.Equal(3, (await Directory.SweepAsync(Token)).RemovedEntries);
    }

    [Fact]
    public async Task A_lapsed_heartbeat_hides_the_node_entries_and_the_sweep_removes_them()
    {
        var lapsing = await RegisteredNodeAsync(heartbeatTtl: TimeSpan.FromSeconds(2));
        var healthy = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(6);
        await Directory.PublishAsync(Ns, [.. TestChains.Publications(chain, lapsing, 0, 6), .. TestChains.Publications(chain, healthy, 0, 3)], Token);
        Assert.Equal(6, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);

        await TestChains.EventuallyAsync(async () => (await Directory.GetLiveNodesAsync(Token)).All(node => node.Id != lapsing.Id),
            "the 2 s heartbeat lapsed");

        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.Equal(3, result.HitCount);
        Assert.All(result.Hits, hit => Assert.Equal(healthy.Id, Assert.Single(hit.Locations).Node));
        Assert.False(await Directory.HeartbeatAsync(lapsing.Id, 0, LongTtl, Token));

        var sweep = await Directory.SweepAsync(Token);
        Assert.Equal(1, sweep.LapsedNodes);

        // Re-registering with the same epoch shows nothing: the lapsed entries were cleaned (lazily or by the sweep).
        await Directory.RegisterNodeAsync(lapsing, LongTtl, Token);
        result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.All(result.Hits, hit => Assert.DoesNotContain(hit.Locations, location => location.Node == lapsing.Id));
    }

    [Fact]
    public async Task A_heartbeat_keeps_the_node_live_and_records_its_free_space()
    {
        var node = await RegisteredNodeAsync(heartbeatTtl: TimeSpan.FromSeconds(30));

        Assert.True(await Directory.HeartbeatAsync(node.Id, 1234, TimeSpan.FromSeconds(30), Token));

        var live = Assert.Single(await Directory.GetLiveNodesAsync(Token), info => info.Id == node.Id);
        Assert.Equal(node with { FreeBytes = 1234 }, live);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () =>
            await Directory.HeartbeatAsync(node.Id, node.CapacityBytes + 1, TimeSpan.FromSeconds(30), Token));
        Assert.False(await Directory.HeartbeatAsync(new NodeId(42), 0, TimeSpan.FromSeconds(30), Token));
    }

    [Fact]
    public async Task A_deregistered_node_entries_are_invisible()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(2);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 2), Token);

        await Directory.DeregisterNodeAsync(node.Id, Token);

        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
        Assert.DoesNotContain(await Directory.GetLiveNodesAsync(Token), info => info.Id == node.Id);
    }

    [Fact]
    public async Task Concurrent_publishers_all_land()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => RegisteredNodeAsync()));
        var chains = Enumerable.Range(0, 8).Select(_ => TestChains.NewChain(96)).ToArray();

        await Task.WhenAll(
            from chain in chains
            from node in nodes
            select Task.Run(async () => await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, chain.Length), Token), Token));

        foreach (var chain in chains)
        {
            var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
            Assert.Equal(96, result.HitCount);
            Assert.All(result.Hits, hit => Assert.Equal(nodes.Select(node => node.Id.Value).Order(), hit.Locations.Select(location => location.Node.Value).Order()));
        }
    }

    [Fact]
    public async Task A_chain_of_100000_keys_answers_its_cached_prefix()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(100_000);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 1000), Token);

        var result = await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);

        Assert.Equal(1000, result.HitCount);
    }

    [Fact]
    public async Task A_chain_longer_than_the_limit_is_refused_with_a_clear_error()
    {
        var chain = new BlockKey[IBlockDirectory.MaxBatchLength + 1];

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token));

        Assert.Contains((IBlockDirectory.MaxBatchLength + 1).ToString(), error.Message);
    }

    [Fact]
    public async Task Bad_publications_are_refused_naming_the_value_and_nothing_is_written()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(2);
        BlockPublication[] bad =
        [
            new(DirectoryKey.InChain(chain, 0), TestChains.At(node, 0)),
            new(DirectoryKey.InChain(chain, 1), TestChains.At(node, 1) with { SizeBytes = -5 }),
        ];

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await Directory.PublishAsync(Ns, bad, Token));

        Assert.Contains("-5", error.Message);
        Assert.Equal(0, (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);
        await Assert.ThrowsAsync<ArgumentException>(async () => await Directory.PublishAsync(Ns,
            [new(DirectoryKey.InChain(chain, 0), TestChains.At(node, 0) with { Tier = (StorageTier)9 })], Token));
        await Assert.ThrowsAsync<ArgumentException>(async () => await Directory.RegisterNodeAsync(
            node with { FreeBytes = node.CapacityBytes + 1 }, LongTtl, Token));
    }

    [Fact]
    public async Task A_lookup_with_a_read_lease_marks_the_hits_until_the_lease_ends()
    {
        var node = await RegisteredNodeAsync();
        var chain = TestChains.NewChain(4);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, node, 0, 2), Token);
        var keys = DirectoryKey.ForChain(chain);
        Assert.All(await Directory.GetReadLeasesAsync(Ns, keys, Token), lease => Assert.Null(lease));

        var result = await Directory.LookupPrefixAsync(Ns, chain, new LookupOptions(TimeSpan.FromSeconds(20)), Token);
        var leases = await Directory.GetReadLeasesAsync(Ns, keys, Token);

        Assert.NotNull(result.ReadLeaseUntil);
        Assert.Equal([result.ReadLeaseUntil, result.ReadLeaseUntil, null, null], leases);
        Assert.InRange(result.ReadLeaseUntil.Value, DateTimeOffset.UtcNow.AddSeconds(5), DateTimeOffset.UtcNow.AddSeconds(40));
    }

    [Fact]
    public async Task The_sweeper_removes_entries_of_lapsed_nodes_in_the_background()
    {
        var lapsing = await RegisteredNodeAsync(heartbeatTtl: TimeSpan.FromMilliseconds(200));
        var chain = TestChains.NewChain(3);
        await Directory.PublishAsync(Ns, TestChains.Publications(chain, lapsing, 0, 3), Token);

        await using (var sweeper = new DirectorySweeper(Directory, TimeSpan.FromMilliseconds(50)))
        {
            await TestChains.EventuallyAsync(async () => (await Directory.GetLiveNodesAsync(Token)).All(node => node.Id != lapsing.Id)
                && sweeper.Sweeps > 0, "the node lapsed and a sweep ran");
            await TestChains.EventuallyAsync(async () =>
            {
                await Directory.RegisterNodeAsync(lapsing, LongTtl, Token);
                var visible = (await Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount;
                await Directory.DeregisterNodeAsync(lapsing.Id, Token);
                return visible == 0;
            }, "the sweeper removed the lapsed node's entries");
        }
    }
}
