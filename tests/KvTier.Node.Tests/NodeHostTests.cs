using KvTier.BlockDirectory;
using KvTier.Core;
using KvTier.Node.Configuration;
using KvTier.Node.Hosting;
using KvTier.Storage;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Node.Tests;

/// <summary>A node composed in-process (real storage engine, real listeners on loopback, in-process directory);
/// blocks are written through <see cref="IBlockStore"/> the way the data-plane handler does.</summary>
public sealed class NodeHostTests : IDisposable
{
    private static readonly NamespaceId Ns = new(0x5EED);
    private readonly string nvme = Directory.CreateTempSubdirectory("kvtier-node-nvme-").FullName;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(nvme, recursive: true);

    [Fact]
    public async Task A_started_node_is_registered_serving_and_ready()
    {
        await using var node = await StartAsync(Options());

        Assert.Equal(NodeLifecycle.Serving, node.State);
        var live = await node.Directory.GetLiveNodesAsync(Token);
        var self = Assert.Single(live);
        Assert.Equal(NodeIdentity.ToNodeId("host-test"), self.Id);
        Assert.EndsWith($":{node.DataPlaneEndPoint.Port}", self.DataPlaneAddress, StringComparison.Ordinal);
        using var http = new HttpClient();
        var ready = await http.GetAsync(new Uri($"http://{node.HttpEndPoint}/readyz"), Token);
        Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task Committed_blocks_are_published_under_their_anchor_and_deleted_ones_unpublished()
    {
        await using var node = await StartAsync(Options());
        var chain = Chain(3, seed: 1);
        for (var i = 0; i < chain.Length; i++)
        {
            Commit(node, chain, i, 4096);
        }

        await node.Publisher.FlushAsync(Token);
        var lookup = await node.Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.Equal(3, lookup.HitCount);
        Assert.All(lookup.Hits, hit => Assert.Equal(node.Info.Id, Assert.Single(hit.Locations).Node));

        Assert.True(node.Store.Delete(new BlockId(Ns, chain[1])));
        await node.Publisher.FlushAsync(Token);

        lookup = await node.Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.Equal(1, lookup.HitCount);
    }

    [Fact]
    public async Task A_block_without_a_known_anchor_is_skipped_and_counted_not_published_wrongly()
    {
        await using var node = await StartAsync(Options());
        var key = Chain(1, seed: 2)[0];
        var data = new byte[1024];
        var reservation = node.Store.Reserve(new BlockId(Ns, key), [ChunkInfo.Of(data)], TimeSpan.FromSeconds(10));
        Assert.Equal(CommitStatus.Committed, node.Store.Commit(reservation).Status);
        await node.Publisher.FlushAsync(Token);

        Assert.Contains("kvtier_publish_skipped_total 1", node.Metrics.Render(), StringComparison.Ordinal);
        Assert.False((await node.Directory.ContainsAsync(Ns, [new DirectoryKey(key, key)], Token))[0]);
    }

    [Fact]
    public async Task Drain_deregisters_refuses_writes_and_stops_the_data_plane()
    {
        PingOnlyFrameHandler? handler = null;
        await using var node = await NodeHost.StartAsync(Options(), (_, _) => handler = new PingOnlyFrameHandler(), NullLoggerFactory.Instance, Token);
        var dataPlane = node.DataPlaneEndPoint;

        await node.DrainAsync();

        Assert.Equal(NodeLifecycle.Stopped, node.State);
        Assert.True(handler!.Draining);
        Assert.Empty(await node.Directory.GetLiveNodesAsync(Token));
        Assert.True(node.Stopped.IsCompleted);
        using var client = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await Assert.ThrowsAsync<System.Net.Sockets.SocketException>(async () => await client.ConnectAsync(dataPlane, Token));
        using var http = new HttpClient();
        var ready = await http.GetAsync(new Uri($"http://{node.HttpEndPoint}/readyz"), Token);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
    }

    [Fact]
    public async Task A_node_restarted_on_its_nvme_directory_republishes_the_recovered_blocks_under_a_new_epoch()
    {
        var options = Options();
        options.Storage.ArenaSize = new ByteSize(4L << 20);
        options.Storage.NvmeDirectory = nvme;
        options.Storage.NvmeSize = new ByteSize(64L << 20);
        var chain = Chain(24, seed: 3);
        List<BlockKey> onNvme;
        ulong firstEpoch;
        await using (var node = await StartAsync(options))
        {
            firstEpoch = node.Info.Epoch;
            var copy = new byte[512 << 10];
            for (var i = 0; i < chain.Length; i++)
            {
                Commit(node, chain, i, 512 << 10);
                // Read once, so the engine's admission (seen twice) demotes it to NVMe when it is evicted.
                Assert.Equal(ReadStatus.Hit, node.Store.CopyOut(new BlockId(Ns, chain[i]), 0, -1, copy, out _).Status);
            }

            onNvme = [.. node.Store.EnumerateBlocks().Where(b => b.Tier == Storage.StorageTier.Nvme).Select(b => b.Id.Key)];
            Assert.NotEmpty(onNvme);

            // Demotions are re-published with their new tier.
            await node.Publisher.FlushAsync(Token);
            var lookup = await node.Directory.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
            Assert.All(lookup.Hits.Where(hit => onNvme.Contains(hit.Key)),
                hit => Assert.Equal(KvTier.BlockDirectory.StorageTier.Nvme, Assert.Single(hit.Locations).Tier));
            Assert.NotEmpty(lookup.Hits.Where(hit => onNvme.Contains(hit.Key)));
        }

        await using var restarted = await StartAsync(options);
        await restarted.Publisher.FlushAsync(Token);

        Assert.NotEqual(firstEpoch, restarted.Info.Epoch);
        var recovered = restarted.Store.EnumerateBlocks().Select(b => b.Id.Key).ToHashSet();
        Assert.NotEmpty(recovered);
        Assert.Superset(onNvme.ToHashSet(), recovered);
        var keys = chain.Select((_, i) => DirectoryKey.InChain(chain, i)).Where(k => recovered.Contains(k.Key)).ToList();
        var present = await restarted.Directory.ContainsAsync(Ns, keys, Token);
        Assert.All(present, Assert.True);
    }

    private static NodeOptions Options() => new()
    {
        NodeId = "host-test",
        DataPlane = { Host = "127.0.0.1", Port = 0 },
        ControlPlane = { Host = "127.0.0.1", Port = 0 },
        Http = { Host = "127.0.0.1", Port = 0 },
        Storage = { ArenaSize = new ByteSize(16L << 20), HugePages = false, LockMemory = false },
        Directory = { HeartbeatInterval = TimeSpan.FromMilliseconds(200) },
    };

    private static Task<NodeHost> StartAsync(NodeOptions options) =>
        NodeHost.StartAsync(options, (_, _) => new PingOnlyFrameHandler(), NullLoggerFactory.Instance, Token);

    private static BlockKey[] Chain(int length, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => new BlockKey((ulong)random.NextInt64(), (ulong)random.NextInt64()))];
    }

    private static void Commit(NodeHost node, BlockKey[] chain, int index, int bytes)
    {
        var id = new BlockId(Ns, chain[index]);
        var data = new byte[bytes];
        new Random(index).NextBytes(data);
        node.Anchors.Record(id, DirectoryKey.InChain(chain, index).Anchor);
        var reservation = node.Store.Reserve(id, [ChunkInfo.Of(data)], TimeSpan.FromSeconds(10));
        Assert.Equal(ReserveStatus.Reserved, reservation.Status);
        data.CopyTo(node.Store.ReservedBytes(reservation));
        Assert.Equal(CommitStatus.Committed, node.Store.Commit(reservation).Status);
    }
}
