using System.Collections.Concurrent;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Storage;

namespace KvTier.Client.Tests;

public sealed class StoreAndLoadTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Blocks_stored_across_three_nodes_load_back_byte_for_byte()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(48, seed: 1);
        var source = TestCluster.RandomBlocks(ns, 48, seed: 2);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(new StoreResult(48, 0, 0), stored);
        Assert.Equal(48, prefix.HitCount);
        Assert.Equal(48, loaded.LoadedBlocks);
        Assert.Null(loaded.FirstFailure);
        Assert.Equal(source, destination);
        Assert.True(cluster.Nodes.Count(n => n.Engine.GetStats().HostBlocks > 0) >= 2, "rendezvous placement should use several nodes");
    }

    [Fact]
    public async Task A_second_store_of_the_same_chain_skips_every_block()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(2, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(10, seed: 3);
        var source = TestCluster.RandomBlocks(ns, 10, seed: 4);

        await client.StoreAsync(ns, chain, 0, source, Token);
        var again = await client.StoreAsync(ns, chain, 0, source, Token);

        Assert.Equal(new StoreResult(0, 10, 0), again);
    }

    [Fact]
    public async Task A_layer_range_loads_only_those_layers_and_reports_each_one()
    {
        var ns = new KvNamespace("tiny4", "main", new KvLayout(4, 2, 16, KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, "none", 1000);
        await using var cluster = await TestCluster.StartAsync(2, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(12, seed: 5);
        var source = TestCluster.RandomBlocks(ns, 12, seed: 6);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var reported = new ConcurrentBag<LayerLoaded>();

        var prefix = await client.LookupAsync(ns, chain, Token);
        var destination = new byte[KvTierClient.BufferBytes(ns, 12, 2)];
        var loaded = await client.LoadAsync(ns, prefix, destination,
            new LoadOptions { FirstLayer = 1, LayerCount = 2, LayerLoaded = reported.Add }, Token);

        Assert.Equal(12, loaded.LoadedBlocks);
        Assert.Equal([new LayerLoaded(1, 12), new LayerLoaded(2, 12)], reported.OrderBy(r => r.Layer));
        var layerBytes = KvTierClient.BufferBytes(ns, 12, 1);
        Assert.Equal(source.AsSpan((int)layerBytes, (int)(2 * layerBytes)).ToArray(), destination);
    }

    [Fact]
    public async Task A_load_into_native_memory_matches_the_stored_bytes()
    {
        var ns = TestCluster.Namespace("split-huffman");
        await using var cluster = await TestCluster.StartAsync(2, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(6, seed: 7);
        var source = TestCluster.RandomBlocks(ns, 6, seed: 8);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var native = NativeBuffer.Alloc(source.Length);
        try
        {
            var loaded = await client.LoadToPointerAsync(ns, prefix, native, source.Length, null, Token);

            Assert.Equal(6, loaded.LoadedBlocks);
            Assert.Equal(source, NativeBuffer.Copy(native, source.Length));
        }
        finally
        {
            NativeBuffer.Free(native);
        }
    }

    [Fact]
    public async Task A_stopped_node_is_replaced_by_a_replica_during_loads()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        await using var client = cluster.Client(replication: 2);
        var chain = TestCluster.Chain(30, seed: 9);
        var source = TestCluster.RandomBlocks(ns, 30, seed: 10);
        Assert.Equal(30, (await client.StoreAsync(ns, chain, 0, source, Token)).Stored);
        var prefix = await client.LookupAsync(ns, chain, Token);

        await cluster.Nodes[0].StopAsync();
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(30, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    [Fact]
    public async Task A_stopped_node_without_replicas_ends_the_prefix_at_its_first_block()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(30, seed: 11);
        var source = TestCluster.RandomBlocks(ns, 30, seed: 12);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var victim = prefix.Hits[5].Locations[0].Node;
        var firstOnVictim = prefix.Hits.ToList().FindIndex(h => h.Locations[0].Node == victim);

        await cluster.Nodes.Single(n => n.Info.Id == victim).StopAsync();
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(firstOnVictim, loaded.LoadedBlocks);
        Assert.NotNull(loaded.FirstFailure);
        AssertLoadedPrefixMatches(ns, source, destination, 30, loaded.LoadedBlocks);
    }

    [Fact]
    public async Task A_node_stopped_before_a_store_leaves_its_blocks_to_the_other_nodes()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(30, seed: 13);
        var source = TestCluster.RandomBlocks(ns, 30, seed: 14);

        await cluster.Nodes[1].StopAsync();
        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(new StoreResult(30, 0, 0), stored);
        Assert.DoesNotContain(prefix.Hits, h => h.Locations.Any(l => l.Node == cluster.Nodes[1].Info.Id));
        Assert.Equal(30, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    [Fact]
    public async Task A_node_stopped_during_concurrent_loads_never_yields_wrong_bytes()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(40, seed: 15);
        var source = TestCluster.RandomBlocks(ns, 40, seed: 16);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);

        var loads = Enumerable.Range(0, 12).Select(async i =>
        {
            var destination = new byte[source.Length];
            var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);
            return (loaded, destination);
        }).ToList();
        await cluster.Nodes[2].StopAsync();

        foreach (var (loaded, destination) in await Task.WhenAll(loads))
        {
            AssertLoadedPrefixMatches(ns, source, destination, 40, loaded.LoadedBlocks);
        }
    }

    [Fact]
    public async Task Corrupt_bytes_in_a_node_arena_are_never_handed_out()
    {
        var ns = TestCluster.Namespace("none");
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(8, seed: 17);
        var source = TestCluster.RandomBlocks(ns, 8, seed: 18);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var engine = cluster.Nodes[0].Engine;
        var extents = new KvTier.Storage.ChunkExtent[ns.Layout.Layers];
        var read = engine.Read(new BlockId(ns.Id, chain[3]), 0, -1, TimeSpan.FromSeconds(1), extents);
        Assert.Equal(ReadStatus.Hit, read.Status);
        engine.ReleaseLease(read.LeaseId);
        unsafe
        {
            ((byte*)engine.ArenaAddress)[extents[1].ArenaOffset + 100] ^= 0x5a;
        }

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(3, loaded.LoadedBlocks);
        AssertLoadedPrefixMatches(ns, source, destination, 8, 3);
        Assert.Equal(3, (await client.LookupAsync(ns, chain, Token)).HitCount); // the stale entry was unpublished
    }

    [Fact]
    public async Task A_block_evicted_from_its_node_ends_the_prefix_there_and_its_entry_is_unpublished()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(8, seed: 41);
        var source = TestCluster.RandomBlocks(ns, 8, seed: 42);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        Assert.True(cluster.Nodes[0].Engine.Delete(new BlockId(ns.Id, chain[5])));

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(5, loaded.LoadedBlocks);
        Assert.Contains("NotFound", loaded.FirstFailure, StringComparison.Ordinal);
        AssertLoadedPrefixMatches(ns, source, destination, 8, 5);
        Assert.Equal(5, (await client.LookupAsync(ns, chain, Token)).HitCount);
    }

    [Fact]
    public async Task A_namespace_the_nodes_do_not_serve_is_a_miss_and_a_failed_store()
    {
        var served = TestCluster.Namespace();
        var unknown = TestCluster.Namespace(tenant: "someone-else");
        await using var cluster = await TestCluster.StartAsync(2, null, served);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(4, seed: 19);

        var stored = await client.StoreAsync(unknown, chain, 0, TestCluster.RandomBlocks(unknown, 4, seed: 20), Token);

        Assert.Equal(new StoreResult(0, 0, 4), stored);
        Assert.Equal(0, (await client.LookupAsync(unknown, chain, Token)).HitCount);
    }

    [Fact]
    public async Task Concurrent_clients_store_and_load_their_own_chains()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(3, null, ns);
        var work = Enumerable.Range(0, 6).Select(async c =>
        {
            await using var client = cluster.Client(replication: 2);
            var chain = TestCluster.Chain(20, seed: 100 + c);
            var source = TestCluster.RandomBlocks(ns, 20, seed: 200 + c);
            await client.StoreAsync(ns, chain, 0, source, Token);
            var destination = new byte[source.Length];
            var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);
            Assert.Equal(20, loaded.LoadedBlocks);
            Assert.Equal(source, destination);
        });

        await Task.WhenAll(work);
    }

    [Fact]
    public async Task Storing_from_a_later_block_extends_the_cached_prefix()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(2, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(10, seed: 21);
        var source = TestCluster.RandomBlocks(ns, 10, seed: 22);
        await client.StoreAsync(ns, chain[..4], 0, LayerMajorSlice(ns, source, 10, 0, 4), Token);

        var stored = await client.StoreAsync(ns, chain, 4, LayerMajorSlice(ns, source, 10, 4, 6), Token);
        var prefix = await client.LookupAsync(ns, chain, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, prefix, destination, null, Token);

        Assert.Equal(new StoreResult(6, 0, 0), stored);
        Assert.Equal(10, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    [Fact]
    public async Task A_destination_too_small_is_refused_with_the_sizes()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var client = cluster.Client();
        var chain = TestCluster.Chain(2, seed: 23);
        await client.StoreAsync(ns, chain, 0, TestCluster.RandomBlocks(ns, 2, seed: 24), Token);
        var prefix = await client.LookupAsync(ns, chain, Token);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => client.LoadAsync(ns, prefix, new byte[100], null, Token));

        Assert.Contains("100 bytes", error.Message, StringComparison.Ordinal);
    }

    private static byte[] LayerMajorSlice(KvNamespace ns, byte[] source, int blocks, int first, int count)
    {
        var chunk = ns.Layout.BytesPerLayerChunk;
        var result = new byte[count * ns.Layout.Layers * chunk];
        for (var layer = 0; layer < ns.Layout.Layers; layer++)
        {
            source.AsSpan(((layer * blocks) + first) * chunk, count * chunk).CopyTo(result.AsSpan(layer * count * chunk));
        }

        return result;
    }

    private static void AssertLoadedPrefixMatches(KvNamespace ns, byte[] source, byte[] destination, int blocks, int loaded)
    {
        var chunk = ns.Layout.BytesPerLayerChunk;
        for (var layer = 0; layer < ns.Layout.Layers; layer++)
        {
            var start = layer * blocks * chunk;
            Assert.True(source.AsSpan(start, loaded * chunk).SequenceEqual(destination.AsSpan(start, loaded * chunk)),
                $"layer {layer} of the first {loaded} blocks differs");
        }
    }
}

internal static unsafe class NativeBuffer
{
    public static nint Alloc(int length) => (nint)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)length);

    public static byte[] Copy(nint pointer, int length) => new ReadOnlySpan<byte>((void*)pointer, length).ToArray();

    public static void Free(nint pointer) => System.Runtime.InteropServices.NativeMemory.Free((void*)pointer);
}
