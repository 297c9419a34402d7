using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using KvTier.Client.Tests;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Rdma;
using KvTier.Rdma.Tests;
using KvTier.Storage;

namespace KvTier.Client.Gpu.Tests;

/// <summary>GPUDirect RDMA loads through the real client: real nodes on loopback (stores over TCP), the node's arena
/// served over the shim's fake RDMA device, and the fake CUDA driver's "device" memory registered through dma-buf as
/// the READs' destination, so the bytes that land, the per-layer events and flushes, and every fallback can be
/// checked on a machine with neither a NIC nor a GPU.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class GpuDirectLoadTests
{
    private const int Blocks = 10;

    private static readonly KvNamespace Raw = Namespace("none");

    private static readonly KvNamespace Compressed = Namespace("lz4");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static int Chunk => Raw.Layout.BytesPerLayerChunk;

    [Fact]
    public async Task A_direct_load_reads_every_layer_into_gpu_memory_without_staging_and_matches_the_stored_bytes()
    {
        await using var setup = await DirectSetup.StartAsync(Raw, Blocks, seed: 1);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(setup.Client, context);
        using var buffer = context.Allocate((ulong)setup.Source.Length);
        using var destination = GpuKvDestination.ForBlocks(buffer, Raw, Blocks);
        var reported = new ConcurrentQueue<GpuLayerLoaded>();
        var flushesBefore = FakeGpu.GpuDirectFlushes();

        var result = await loader.LoadAsync(Raw, setup.Prefix, destination, new GpuLoadOptions { LayerLoaded = reported.Enqueue }, Token);
        var channel = await setup.ChannelAsync();

        Assert.Equal(GpuLoadPath.GpuDirectRdma, result.Path);
        Assert.Contains("GPUDirect RDMA", result.PathReason, StringComparison.Ordinal);
        Assert.Equal(Blocks, result.LoadedBlocks);
        Assert.Null(result.FirstFailure);
        Assert.Equal(setup.Source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, setup.Source.Length));
        Assert.Equal([0, 1, 2, 3], reported.Select(r => r.Layer)); // one batch of reads per layer, in layer order
        Assert.All(reported, r => Assert.Equal(Blocks, r.UsableBlocks));
        Assert.All(result.Layers, l => Assert.True(l.CopyDone.IsComplete));
        Assert.Equal(flushesBefore + Raw.Layout.Layers, FakeGpu.GpuDirectFlushes());
        Assert.Equal(Blocks * Raw.Layout.Layers, channel.ChunksReadDirect);
        Assert.Equal(0, channel.ChunksReadOverRdma);
        Assert.Equal(0, loader.StagingBytes);
        Assert.Equal(0, setup.Engine.GetStats().ActiveLeases);
    }

    [Fact]
    public async Task A_chunk_corrupted_in_the_node_arena_is_refused_when_leased_and_ends_the_direct_prefix_there()
    {
        // The CPU cannot check bytes in GPU memory, so the node's lease-time verification is what keeps a corrupt
        // chunk out of a direct load: it must cut the prefix before that block, on every layer.
        await using var setup = await DirectSetup.StartAsync(Raw, Blocks, seed: 2);
        var corrupted = 6;
        var extent = setup.Extents(corrupted)[2];
        Marshal.WriteByte(setup.Engine.ArenaAddress + (nint)extent.ArenaOffset + (extent.Length / 3),
            (byte)(Marshal.ReadByte(setup.Engine.ArenaAddress + (nint)extent.ArenaOffset + (extent.Length / 3)) ^ 0x40));
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(setup.Client, context, new GpuKvLoaderOptions { GpuDirect = GpuDirectMode.Require });
        using var buffer = context.Allocate((ulong)setup.Source.Length);
        using var destination = GpuKvDestination.ForBlocks(buffer, Raw, Blocks);

        var result = await loader.LoadAsync(Raw, setup.Prefix, destination, null, Token);

        Assert.Equal(GpuLoadPath.GpuDirectRdma, result.Path);
        Assert.Equal(corrupted, result.LoadedBlocks);
        Assert.Contains("Corrupt", result.FirstFailure, StringComparison.Ordinal);
        Assert.All(result.Layers, l => Assert.Equal(corrupted, l.UsableBlocks));
        var onGpu = FakeGpu.ReadBack(loader.CopyStream, buffer, 0, setup.Source.Length);
        for (var layer = 0; layer < Raw.Layout.Layers; layer++)
        {
            var start = layer * Blocks * Chunk;
            Assert.True(setup.Source.AsSpan(start, corrupted * Chunk).SequenceEqual(onGpu.AsSpan(start, corrupted * Chunk)),
                $"layer {layer} of the usable prefix differs");
        }
    }

    [Fact]
    public async Task A_compressed_namespace_loads_through_verified_staging_and_says_why()
    {
        await using var setup = await DirectSetup.StartAsync(Compressed, Blocks, seed: 3);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(setup.Client, context);
        using var buffer = context.Allocate((ulong)setup.Source.Length);
        using var destination = GpuKvDestination.ForBlocks(buffer, Compressed, Blocks);

        var result = await loader.LoadAsync(Compressed, setup.Prefix, destination, null, Token);
        var channel = await setup.ChannelAsync();

        Assert.Equal(GpuLoadPath.PinnedStaging, result.Path);
        Assert.Contains("codec 'lz4'", result.PathReason, StringComparison.Ordinal);
        Assert.Equal(Blocks, result.LoadedBlocks);
        Assert.Equal(setup.Source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, setup.Source.Length));
        Assert.Equal(0, channel.ChunksReadDirect);
        Assert.Equal(Blocks * Compressed.Layout.Layers, channel.ChunksReadOverRdma); // staged over RDMA, verified on the CPU
    }

    [Theory]
    [InlineData(GpuDirectMode.Off, "GpuKvLoaderOptions.GpuDirect")]
    [InlineData(GpuDirectMode.Auto, "per-layer addresses")]
    public async Task The_loader_stages_when_told_to_or_when_the_destination_is_not_one_registrable_buffer(GpuDirectMode mode, string reason)
    {
        await using var setup = await DirectSetup.StartAsync(Raw, Blocks, seed: 4);
        using var context = FakeGpu.Open();
        using var loader = new GpuKvLoader(setup.Client, context, new GpuKvLoaderOptions { GpuDirect = mode });
        using var buffer = context.Allocate((ulong)setup.Source.Length);
        var layerBytes = (long)Blocks * Chunk;
        using var destination = mode == GpuDirectMode.Off
            ? GpuKvDestination.ForBlocks(buffer, Raw, Blocks)
            : GpuKvDestination.FromLayerAddresses([.. Enumerable.Range(0, 4).Select(l => buffer.Pointer + (ulong)(l * layerBytes))], layerBytes);

        var result = await loader.LoadAsync(Raw, setup.Prefix, destination, null, Token);

        Assert.Equal(GpuLoadPath.PinnedStaging, result.Path);
        Assert.Contains(reason, result.PathReason, StringComparison.Ordinal);
        Assert.Equal(setup.Source, FakeGpu.ReadBack(loader.CopyStream, buffer, 0, setup.Source.Length));
    }

    [Fact]
    public async Task Over_tcp_the_loader_stages_under_auto_and_refuses_under_require_with_the_reason()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, Raw);
        await using var client = cluster.Client(); // this machine has no RDMA device: the channel decides TCP
        var chain = TestCluster.Chain(Blocks, seed: 5);
        var source = TestCluster.RandomBlocks(Raw, Blocks, seed: 6);
        await client.StoreAsync(Raw, chain, 0, source, Token);
        var prefix = await client.LookupAsync(Raw, chain, Token);
        using var context = FakeGpu.Open();
        using var buffer = context.Allocate((ulong)source.Length);
        using var destination = GpuKvDestination.ForBlocks(buffer, Raw, Blocks);
        using var auto = new GpuKvLoader(client, context);
        using var require = new GpuKvLoader(client, context, new GpuKvLoaderOptions { GpuDirect = GpuDirectMode.Require });

        var staged = await auto.LoadAsync(Raw, prefix, destination, null, Token);
        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => require.LoadAsync(Raw, prefix, destination, null, Token));

        Assert.Equal(GpuLoadPath.PinnedStaging, staged.Path);
        Assert.Contains("reached over TCP", staged.PathReason, StringComparison.Ordinal);
        Assert.Equal(source, FakeGpu.ReadBack(auto.CopyStream, buffer, 0, source.Length));
        Assert.Contains("reached over TCP", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_direct_load_into_host_memory_is_refused_because_only_the_verified_path_may_write_there()
    {
        await using var setup = await DirectSetup.StartAsync(Raw, 2, seed: 7);
        var host = GC.AllocateArray<byte>(2 * Raw.Layout.Layers * Chunk, pinned: true);
        using var target = new DirectLoadTarget(rdma => RdmaDestination.Host(rdma.RegisterMemory(Marshal.UnsafeAddrOfPinnedArrayElement(host, 0),
            (ulong)host.Length, RdmaAccess.LocalWrite)), [0, 2UL * (ulong)Chunk, 4UL * (ulong)Chunk, 6UL * (ulong)Chunk], 2L * Chunk);

        var check = await setup.Client.CheckDirectLoadAsync(Raw, setup.Prefix, target, cancellationToken: Token);
        var result = await setup.Client.LoadDirectAsync(Raw, setup.Prefix, target, null, Token);

        Assert.False(check.IsPossible);
        Assert.Contains("must be device (GPU) memory", check.Reason, StringComparison.Ordinal);
        Assert.Equal(0, result.LoadedBlocks);
        Assert.Contains("must be device (GPU) memory", result.FirstFailure, StringComparison.Ordinal);
        Assert.All(host, b => Assert.Equal(0, b));
    }

    private static KvNamespace Namespace(string codec) =>
        new("gpudirect", "main", new KvLayout(4, 2, 16, KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, codec, 1000);

    /// <summary>One node holding <c>blocks</c> stored blocks, and a client whose channel to it is RDMA over the fake
    /// device, with the node's real arena served by an <see cref="RdmaArenaServer"/>.</summary>
    private sealed class DirectSetup : IAsyncDisposable
    {
        private readonly TestCluster cluster;
        private readonly IDisposable fake;
        private readonly RdmaContext rdma;
        private readonly RdmaArenaServer server;
        private readonly NodeChannelFactory factory;
        private readonly BlockKey[] chain;
        private readonly KvNamespace ns;

        private DirectSetup(TestCluster cluster, IDisposable fake, RdmaContext rdma, RdmaArenaServer server, NodeChannelFactory factory,
            KvTierClient client, BlockKey[] chain, KvNamespace ns, byte[] source, BlockDirectory.PrefixLookup prefix)
        {
            this.cluster = cluster;
            this.fake = fake;
            this.rdma = rdma;
            this.server = server;
            this.factory = factory;
            this.chain = chain;
            this.ns = ns;
            Client = client;
            Source = source;
            Prefix = prefix;
        }

        public KvTierClient Client { get; }

        public byte[] Source { get; }

        public BlockDirectory.PrefixLookup Prefix { get; }

        public StorageEngine Engine => cluster.Nodes[0].Engine;

        public static async Task<DirectSetup> StartAsync(KvNamespace ns, int blocks, int seed)
        {
            var cluster = await TestCluster.StartAsync(1, null, ns);
            var chain = TestCluster.Chain(blocks, seed);
            var source = TestCluster.RandomBlocks(ns, blocks, seed + 100);
            await using (var writer = cluster.Client()) // before the fake device: stores over TCP
            {
                Assert.Equal(blocks, (await writer.StoreAsync(ns, chain, 0, source, Token)).Stored);
            }

            var fake = TestShim.UseFakeDevice();
            var rdma = RdmaContext.Open();
            var engine = cluster.Nodes[0].Engine;
            var server = new RdmaArenaServer(rdma, engine.ArenaAddress, (ulong)engine.ArenaLength);
            var options = new KvTierClientOptions { RequestTimeout = TimeSpan.FromSeconds(10), MembershipCacheTime = TimeSpan.Zero };
            var factory = new NodeChannelFactory(options, DataPlaneSecurity.ConnectionOptions(options), ConsoleTestLogger.Instance);
            var client = cluster.Client(info => factory.OpenRdma(info, (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint))));
            var prefix = await client.LookupAsync(ns, chain, Token);
            Assert.Equal(blocks, prefix.HitCount);
            return new DirectSetup(cluster, fake, rdma, server, factory, client, chain, ns, source, prefix);
        }

        public async Task<RdmaNodeChannel> ChannelAsync() =>
            Assert.IsType<RdmaNodeChannel>(await Client.GetChannelAsync(cluster.Nodes[0].Info.Id, Token));

        /// <summary>Where each chunk of block <paramref name="block"/> lies in the arena (leased and released at once).</summary>
        public ChunkExtent[] Extents(int block)
        {
            var extents = new ChunkExtent[ns.Layout.Layers];
            var lease = Engine.Read(new BlockId(ns.Id, chain[block]), 0, extents.Length, TimeSpan.FromSeconds(5), extents);
            Assert.Equal(ReadStatus.Hit, lease.Status);
            Assert.True(Engine.ReleaseLease(lease.LeaseId));
            return extents;
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            factory.Dispose();
            server.Dispose();
            rdma.Dispose();
            fake.Dispose();
            await cluster.DisposeAsync();
        }
    }
}
