using System.Collections.Concurrent;
using KvTier.Client.Tests;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Client.Gpu.Tests;

/// <summary>GPU loads through real nodes on loopback into the fake CUDA driver's "device" memory: the bytes that
/// land there, the per-layer events and callbacks, partial prefixes, layer groups and the no-GPU fallback.</summary>
public sealed class GpuLoadTests
{
    private static readonly KvNamespace Ns =
        new("gpu4", "main", new KvLayout(4, 2, 16, KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, "lz4", 1000);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static int Chunk => Ns.Layout.BytesPerLayerChunk;

    [Fact]
    public async Task Blocks_loaded_to_the_gpu_equal_the_stored_bytes_and_every_layer_gets_its_event()
    {
        await using var cluster = await TestCluster.StartAsync(2, null, Ns);
        await using var client = cluster.Client();
        var (chain, source) = await StoreAsync(client, 24, seed: 1);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context);
        using var buffer = context.Allocate((ulong)KvTierClient.BufferBytes(Ns, 24, 4));
        var reported = new ConcurrentBag<GpuLayerLoaded>();
        var unpinnedBefore = FakeGpu.UnpinnedAsyncCopies();

        var result = await loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 24),
            new GpuLoadOptions { LayerLoaded = reported.Add }, Token);

        Assert.Equal(24, result.LoadedBlocks);
        Assert.Equal(24, result.RequestedBlocks);
        Assert.Null(result.FirstFailure);
        Assert.Equal(GpuLoadPath.PinnedStaging, result.Path);
        Assert.Equal([0, 1, 2, 3], reported.Select(r => r.Layer).Order());
        Assert.All(reported, r => Assert.Equal(24, r.UsableBlocks));
        Assert.Equal([0, 1, 2, 3], result.Layers.Select(l => l.Layer));
        Assert.Equal(4, result.Layers.Select(l => l.CopyDone).Distinct().Count());
        foreach (var layer in result.Layers)
        {
            layer.CopyDone.Synchronize();
            Assert.True(layer.CopyDone.IsComplete);
            Assert.True(layer.CopyDone.ElapsedMillisecondsSince(result.Started) > 0);
        }

        Assert.Equal(source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, source.Length));
        Assert.Equal(unpinnedBefore, FakeGpu.UnpinnedAsyncCopies());
    }

    [Fact]
    public async Task A_layer_range_lands_in_engine_owned_per_layer_addresses()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();
        var (chain, source) = await StoreAsync(client, 8, seed: 2);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context);
        using var layer1 = context.Allocate((ulong)(16 * Chunk));
        using var layer2 = context.Allocate((ulong)(16 * Chunk));

        var result = await loader.LoadAsync(Ns, prefix,
            GpuKvDestination.FromLayerAddresses([layer1.Pointer, layer2.Pointer], 16L * Chunk, firstLayer: 1), null, Token);
        loader.CopyStream.Synchronize();

        Assert.Equal(8, result.LoadedBlocks);
        Assert.Equal([1, 2], result.Layers.Select(l => l.Layer));
        Assert.Equal(source.AsSpan(1 * 8 * Chunk, 8 * Chunk).ToArray(), FakeGpu.ReadBack(loader.CopyStream, layer1, 0, 8 * Chunk));
        Assert.Equal(source.AsSpan(2 * 8 * Chunk, 8 * Chunk).ToArray(), FakeGpu.ReadBack(loader.CopyStream, layer2, 0, 8 * Chunk));
    }

    [Fact]
    public async Task A_prefix_cut_by_a_stopped_node_loads_only_its_leading_blocks_in_every_layer()
    {
        await using var cluster = await TestCluster.StartAsync(3, null, Ns);
        await using var client = cluster.Client();
        var (chain, source) = await StoreAsync(client, 30, seed: 3);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        // The victim is not block 0's node, so the usable prefix is not empty and its bytes are compared.
        var firstOnVictim = prefix.Hits.ToList().FindIndex(h => h.Locations[0].Node != prefix.Hits[0].Locations[0].Node);
        var victim = prefix.Hits[firstOnVictim].Locations[0].Node;
        await cluster.Nodes.Single(n => n.Info.Id == victim).StopAsync();
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context);
        using var buffer = context.Allocate((ulong)source.Length);

        var result = await loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 30), null, Token);
        loader.CopyStream.Synchronize();

        Assert.Equal(firstOnVictim, result.LoadedBlocks);
        Assert.Equal(30, result.RequestedBlocks);
        Assert.NotNull(result.FirstFailure);
        Assert.All(result.Layers, l => Assert.Equal(firstOnVictim, l.UsableBlocks));
        AssertLayersMatch(source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, source.Length), 30, result.LoadedBlocks);
    }

    [Fact]
    public async Task A_load_over_the_staging_limit_runs_in_layer_groups_and_still_matches()
    {
        await using var cluster = await TestCluster.StartAsync(2, null, Ns);
        await using var client = cluster.Client();
        var (chain, source) = await StoreAsync(client, 20, seed: 4);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context, new GpuKvLoaderOptions { MaxStagingBytes = 20L * Chunk * 3 / 2 });
        using var buffer = context.Allocate((ulong)source.Length);

        var first = await loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 20), null, Token);
        var second = await loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 20), new GpuLoadOptions { MaxBlocks = 7 }, Token);
        loader.CopyStream.Synchronize();

        Assert.Equal(20, first.LoadedBlocks);
        Assert.Equal(7, second.LoadedBlocks);
        Assert.Equal(source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, source.Length));
    }

    [Fact]
    public async Task A_layer_wider_than_the_staging_limit_is_refused_with_the_sizes()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();
        var (chain, _) = await StoreAsync(client, 10, seed: 5);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context, new GpuKvLoaderOptions { MaxStagingBytes = Chunk });
        using var buffer = context.Allocate((ulong)KvTierClient.BufferBytes(Ns, 10, 4));

        var exception = await Assert.ThrowsAsync<ArgumentException>(() =>
            loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 10), null, Token));

        Assert.Contains($"{10 * Chunk} bytes", exception.Message, StringComparison.Ordinal);
        Assert.Contains($"MaxStagingBytes ({Chunk})", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_empty_prefix_loads_nothing_and_still_records_every_layer_event()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();
        var prefix = await client.LookupAsync(Ns, TestCluster.Chain(5, seed: 6), Token);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context);
        using var buffer = context.Allocate((ulong)KvTierClient.BufferBytes(Ns, 5, 4));

        var result = await loader.LoadAsync(Ns, prefix, GpuKvDestination.ForBlocks(buffer, Ns, 5), null, Token);

        Assert.Equal(0, result.LoadedBlocks);
        Assert.Equal(4, result.Layers.Count);
        Assert.All(result.Layers, l => Assert.Equal(0, l.UsableBlocks));
        Assert.All(result.Layers, l => Assert.True(l.CopyDone.IsComplete));
        Assert.Equal(0, loader.StagingBytes);
    }

    [Fact]
    public void A_device_buffer_too_small_for_the_blocks_is_refused_with_the_sizes()
    {
        using var context = FakeGpu.Open();
        using var buffer = context.Allocate(4096);

        var exception = Assert.Throws<ArgumentException>(() => GpuKvDestination.ForBlocks(buffer, Ns, 3));

        Assert.Contains($"4096-byte device buffer cannot hold 3 blocks x 4 layers x {Chunk} bytes", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Destination_layers_outside_the_model_are_refused()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(client, context);
        using var layers = context.Allocate(1 << 16);
        var prefix = await client.LookupAsync(Ns, TestCluster.Chain(1, seed: 7), Token);

        var exception = await Assert.ThrowsAsync<ArgumentException>(() => loader.LoadAsync(Ns, prefix,
            GpuKvDestination.FromLayerAddresses([layers.Pointer, layers.Pointer + 4096], 4096, firstLayer: 3), null, Token));

        Assert.Contains("layers 3..4 are outside the 4 layers", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_gpu_the_loader_is_not_created_and_the_engine_falls_back_to_host_memory()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();
        var (chain, source) = await StoreAsync(client, 6, seed: 8);

        var created = GpuKvLoader.TryCreate(client, out var loader, out var reason, cudaLibraryPath: FakeGpu.NoDevicePath);
        var prefix = await client.LookupAsync(Ns, chain, Token);
        var host = new byte[source.Length];
        var loaded = await client.LoadAsync(Ns, prefix, host, null, Token);

        Assert.False(created);
        Assert.Null(loader);
        Assert.Contains("no GPU", reason, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_NO_DEVICE", reason, StringComparison.Ordinal);
        Assert.Equal(6, loaded.LoadedBlocks);
        Assert.Equal(source, host);
    }

    [Fact]
    public async Task With_a_gpu_the_loader_is_created_on_its_own_context()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Ns);
        await using var client = cluster.Client();

        Assert.True(GpuKvLoader.TryCreate(client, out var loader, out var reason, cudaLibraryPath: FakeGpu.DriverPath), reason);
        using (loader)
        {
            Assert.Equal("KvTier Fake GPU", loader.Context.Device.Name);
        }

        Assert.False(GpuKvLoader.TryCreate(client, out _, out var missing, deviceOrdinal: 3, cudaLibraryPath: FakeGpu.DriverPath));
        Assert.Contains("no GPU 3", missing, StringComparison.Ordinal);
    }

    private static async Task<(BlockKey[] Chain, byte[] Source)> StoreAsync(KvTierClient client, int blocks, int seed)
    {
        var chain = TestCluster.Chain(blocks, seed);
        var source = TestCluster.RandomBlocks(Ns, blocks, seed + 100);
        var stored = await client.StoreAsync(Ns, chain, 0, source, Token);
        Assert.Equal(blocks, stored.Stored);
        return (chain, source);
    }

    private static void AssertLayersMatch(byte[] expected, byte[] actual, int blocks, int loaded)
    {
        for (var layer = 0; layer < Ns.Layout.Layers; layer++)
        {
            var start = layer * blocks * Chunk;
            Assert.True(expected.AsSpan(start, loaded * Chunk).SequenceEqual(actual.AsSpan(start, loaded * Chunk)),
                $"layer {layer} of the first {loaded} blocks differs");
        }
    }
}
