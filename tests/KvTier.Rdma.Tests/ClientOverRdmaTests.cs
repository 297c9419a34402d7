using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using KvTier.BlockDirectory;
using KvTier.Client;
using KvTier.Client.Tests;
using KvTier.Core;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using KvTier.Node.Security;
using KvTier.Storage;
using KvTier.Testing;
using KvTier.Transport.ControlPlane;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Rdma.Tests;

/// <summary>The client's RDMA channel end to end over the shim's fake device, both ends in this process: a real node
/// (NodeHost: arena registered, gRPC ConnectRdma) or the client tests' in-process node with its arena served by an
/// <see cref="RdmaArenaServer"/>, and the real <see cref="KvTierClient"/> storing over TCP and loading over RDMA.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class ClientOverRdmaTests
{
    private const int Blocks = 12;
    private const string TenantToken = "tenant-a-rdma-token";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_client_stores_and_loads_over_rdma_and_every_byte_matches_what_it_stored()
    {
        using var fake = TestShim.UseFakeDevice();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns);
        var log = new RecordingLogger();
        await using var client = new KvTierClient(node.Directory, Options(), log);

        var (source, first, second) = await StoreThenLoadTwiceAsync(client, ns, seed: 11);
        var channel = await RdmaChannelAsync(client, node.Info.Id);

        Assert.NotNull(node.RdmaServer);
        Assert.Equal(Blocks, first.Result.LoadedBlocks);
        Assert.Equal(source, first.Bytes);
        Assert.Equal(Blocks, second.Result.LoadedBlocks);
        Assert.Equal(source, second.Bytes);
        Assert.Equal(DataPlaneTransport.Rdma, client.Transports[node.Info.Id]);
        Assert.Equal(Blocks * ns.Layout.Layers, channel.ChunksWrittenOverRdma);
        Assert.Equal(2L * Blocks * ns.Layout.Layers, channel.ChunksReadOverRdma);
        Assert.Equal(0, channel.FailedTransfers);
        Assert.Equal(1, node.RdmaServer.ConnectionCount);
        Assert.Contains("kvtier_rdma_connections 1", node.Metrics.Render(), StringComparison.Ordinal);
        Assert.Single(log.Lines, l => l.Contains("Data plane of node", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.StartsWith("Information: Data plane of node", StringComparison.Ordinal) && l.Contains("RDMA: both ends", StringComparison.Ordinal));
        Assert.Equal(0, node.Store.GetStats().ActiveLeases);
    }

    [Fact]
    public async Task A_drained_node_closes_the_clients_queue_pairs_with_its_data_plane()
    {
        using var fake = TestShim.UseFakeDevice();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns);
        await using var client = new KvTierClient(node.Directory, Options());
        var chain = TestCluster.Chain(4, seed: 13);
        var source = TestCluster.RandomBlocks(ns, 4, seed: 14);
        await client.StoreAsync(ns, chain, 0, source, Token);
        var connected = node.RdmaServer!.ConnectionCount;

        await node.DrainAsync();

        Assert.Equal(1, connected);
        Assert.Equal(0, node.RdmaServer.ConnectionCount);
        Assert.Contains("kvtier_rdma_connections 0", node.Metrics.Render(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_client_stays_on_tcp_where_both_ends_could_use_rdma_when_told_to()
    {
        using var fake = TestShim.UseFakeDevice();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns);
        await using var client = new KvTierClient(node.Directory, Options() with { Transport = DataPlaneTransportMode.TcpOnly });
        var chain = TestCluster.Chain(4, seed: 15);
        var source = TestCluster.RandomBlocks(ns, 4, seed: 16);

        await client.StoreAsync(ns, chain, 0, source, Token);
        var load = await LoadAsync(client, ns, chain, source.Length);

        Assert.NotNull(node.RdmaServer);
        Assert.Equal(4, load.Result.LoadedBlocks);
        Assert.Equal(source, load.Bytes);
        Assert.Equal(DataPlaneTransport.Tcp, client.Transports[node.Info.Id]);
        Assert.IsType<TcpNodeChannel>(await client.GetChannelAsync(node.Info.Id, Token));
        Assert.Equal(0, node.RdmaServer.ConnectionCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_node_with_tenant_tokens_offers_rdma_to_a_token_holder_only_when_its_tenants_share_one_trust_domain(bool allowTenants)
    {
        using var fake = TestShim.UseFakeDevice();
        using var folder = new TemporaryFolder();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns, options =>
        {
            options.Auth.TokensFile = WriteTokensFile(folder.Path, ns);
            options.Rdma.AllowTenants = allowTenants;
        });
        var log = new RecordingLogger();
        await using var client = new KvTierClient(node.Directory, Options() with { Token = TenantToken }, log);
        var chain = TestCluster.Chain(Blocks, seed: 17);
        var source = TestCluster.RandomBlocks(ns, Blocks, seed: 18);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var load = await LoadAsync(client, ns, chain, source.Length);
        var channel = await RdmaChannelAsync(client, node.Info.Id);

        Assert.Equal(Blocks, stored.Stored);
        Assert.Equal(Blocks, load.Result.LoadedBlocks);
        Assert.Equal(source, load.Bytes);
        var line = Assert.Single(log.Lines, l => l.Contains("Data plane of node", StringComparison.Ordinal));
        if (allowTenants)
        {
            Assert.Equal(DataPlaneTransport.Rdma, client.Transports[node.Info.Id]);
            Assert.Equal(Blocks * ns.Layout.Layers, channel.ChunksReadOverRdma);
            Assert.Equal(1, node.RdmaServer!.ConnectionCount);
            Assert.Contains("offered to token holders (Rdma:AllowTenants", node.RdmaStatus, StringComparison.Ordinal);
        }
        else
        {
            Assert.Null(node.RdmaServer);
            Assert.Equal(DataPlaneTransport.Tcp, client.Transports[node.Info.Id]);
            Assert.Equal(0, channel.ChunksReadOverRdma);
            Assert.StartsWith("Warning:", line, StringComparison.Ordinal);
            Assert.Contains("tenant tokens are on", line, StringComparison.Ordinal);
            Assert.Contains("set Rdma:AllowTenants = true", line, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_queue_pair_exchange_of_a_node_with_tenant_tokens_needs_a_valid_token()
    {
        using var fake = TestShim.UseFakeDevice();
        using var folder = new TemporaryFolder();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns, options =>
        {
            options.Auth.TokensFile = WriteTokensFile(folder.Path, ns);
            options.Rdma.AllowTenants = true;
        });
        using var channel = GrpcChannel.ForAddress($"http://{node.ControlPlaneEndPoint}");
        var control = new NodeControl.NodeControlClient(channel);
        using var context = RdmaContext.Open();
        using var completions = context.CreateCompletionQueue(4);
        using var queuePair = context.CreateQueuePair(completions, 4);
        var request = new ConnectRdmaRequest { Client = RdmaEndpointWire.ToWire(queuePair.LocalEndpoint) };

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await control.ConnectRdmaAsync(request, cancellationToken: Token));
        var forged = await Assert.ThrowsAsync<RpcException>(async () =>
            await control.ConnectRdmaAsync(request, new Metadata { { "authorization", "Bearer forged" } }, cancellationToken: Token));
        var reply = await control.ConnectRdmaAsync(request, new Metadata { { "authorization", "Bearer " + TenantToken } }, cancellationToken: Token);

        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, forged.StatusCode);
        Assert.Equal(node.RdmaServer!.Arena.RemoteKey, reply.ArenaRkey);
        Assert.Equal(1, node.RdmaServer.ConnectionCount);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task A_tls_client_uses_rdma_only_where_both_ends_accept_unencrypted_rdma(bool nodeAllows, bool clientAllows)
    {
        using var fake = TestShim.UseFakeDevice();
        using var certificates = TestCertificates.Create();
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns, options =>
        {
            options.Tls.CertificateFile = certificates.ServerCertificateFile;
            options.Tls.KeyFile = certificates.ServerKeyFile;
            options.Rdma.AllowWithTls = nodeAllows;
        });
        var log = new RecordingLogger();
        var options = Options() with
        {
            Tls = new KvTierTlsOptions { TrustedCaFile = certificates.CaFile, ServerName = "localhost" },
            AllowRdmaWithTls = clientAllows,
        };
        await using var client = new KvTierClient(node.Directory, options, log);
        var chain = TestCluster.Chain(4, seed: 19);
        var source = TestCluster.RandomBlocks(ns, 4, seed: 20);

        await client.StoreAsync(ns, chain, 0, source, Token);
        var load = await LoadAsync(client, ns, chain, source.Length);

        Assert.Equal(4, load.Result.LoadedBlocks);
        Assert.Equal(source, load.Bytes);
        Assert.Equal(nodeAllows && clientAllows ? DataPlaneTransport.Rdma : DataPlaneTransport.Tcp, client.Transports[node.Info.Id]);
        Assert.Equal(nodeAllows, node.RdmaServer is not null);
        Assert.Equal(nodeAllows && clientAllows ? 1 : 0, node.RdmaServer?.ConnectionCount ?? 0);
        if (!clientAllows)
        {
            Assert.Contains(log.Lines, l => l.Contains("TLS is configured and RDMA would carry block bytes unencrypted", StringComparison.Ordinal));
        }
        else if (!nodeAllows)
        {
            Assert.Contains(log.Lines, l => l.StartsWith("Warning:", StringComparison.Ordinal) && l.Contains("set Rdma:AllowWithTls = true", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Require_rdma_with_tls_is_refused_unless_the_client_accepts_unencrypted_rdma()
    {
        using var fake = TestShim.UseFakeDevice();
        var directory = new KvTier.BlockDirectory.InProcess.InProcessBlockDirectory();
        var tls = new KvTierTlsOptions { ServerName = "localhost" };

        var refused = Assert.Throws<InvalidOperationException>(() =>
            new KvTierClient(directory, Options() with { Transport = DataPlaneTransportMode.RequireRdma, Tls = tls }));
        await using var accepted = new KvTierClient(directory, Options() with { Transport = DataPlaneTransportMode.RequireRdma, Tls = tls, AllowRdmaWithTls = true });

        Assert.Contains("set AllowRdmaWithTls = true", refused.Message, StringComparison.Ordinal);
        Assert.Equal(DataPlaneTransportMode.RequireRdma, accepted.Options.Transport);
    }

    [Fact]
    public async Task A_chunk_that_changed_after_the_node_verified_its_lease_is_caught_by_the_client_and_ends_the_prefix_there()
    {
        // The node verifies every chunk as it grants a lease, so a chunk corrupted in its arena is refused before any
        // READ. What only the client can catch is a chunk that changes after that check (a bit flipped in memory or on
        // the wire): the node here serves a copy of its arena over RDMA, and one chunk of the copy is flipped.
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        var engine = cluster.Nodes[0].Engine;
        await using var writer = cluster.Client(); // before the fake device: stores over TCP
        var chain = TestCluster.Chain(Blocks, seed: 21);
        var source = TestCluster.RandomBlocks(ns, Blocks, seed: 22);
        await writer.StoreAsync(ns, chain, 0, source, Token);
        using var fake = TestShim.UseFakeDevice();
        var copy = GC.AllocateArray<byte>((int)engine.ArenaLength, pinned: true);
        Marshal.Copy(engine.ArenaAddress, copy, 0, copy.Length);
        var corrupted = Blocks / 2;
        var extent = Extents(engine, ns, chain[corrupted])[1];
        copy[(int)extent.ArenaOffset + (extent.Length / 2)] ^= 0x10;
        using var context = RdmaContext.Open();
        using var server = new RdmaArenaServer(context, Marshal.UnsafeAddrOfPinnedArrayElement(copy, 0), (ulong)copy.Length);
        using var factory = new NodeChannelFactory(Options(), DataPlaneSecurity.ConnectionOptions(Options()), ConsoleTestLogger.Instance);
        await using var client = cluster.Client(info => factory.OpenRdma(info, (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint))));

        var load = await LoadAsync(client, ns, chain, source.Length);
        var channel = await RdmaChannelAsync(client, cluster.Nodes[0].Info.Id);

        Assert.Equal(corrupted, load.Result.LoadedBlocks);
        Assert.Contains("Corrupt", load.Result.FirstFailure, StringComparison.Ordinal);
        Assert.Equal(PrefixOf(ns, source, corrupted), PrefixOf(ns, load.Bytes, corrupted));
        Assert.Equal(1, channel.FailedTransfers);
        Assert.Equal((Blocks - 1) * ns.Layout.Layers, channel.ChunksReadOverRdma);
    }

    [Fact]
    public async Task An_error_completion_fails_only_the_blocks_it_reads_and_the_queue_pair_reconnects_for_the_rest()
    {
        var ns = TestCluster.Namespace();
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        var engine = cluster.Nodes[0].Engine;
        await using var writer = cluster.Client(); // before the fake device: stores over TCP
        var chain = TestCluster.Chain(Blocks, seed: 31);
        var source = TestCluster.RandomBlocks(ns, Blocks, seed: 32);
        await writer.StoreAsync(ns, chain, 0, source, Token);
        using var fake = TestShim.UseFakeDevice();

        // The node registers only the arena below block 8's first chunk but tells the client the whole length, so the
        // client posts READs past the registration and the device answers them with remote-access error completions.
        var extents = chain.Select(key => Extents(engine, ns, key)).ToArray();
        var registered = extents[8].Min(e => e.ArenaOffset);
        var firstOutside = Array.FindIndex(extents, block => block.Any(e => e.ArenaOffset + e.Length > registered));
        using var context = RdmaContext.Open();
        using var server = new RdmaArenaServer(context, engine.ArenaAddress, (ulong)registered);
        var exchanges = 0;
        using var factory = new NodeChannelFactory(Options(), DataPlaneSecurity.ConnectionOptions(Options()), ConsoleTestLogger.Instance);
        await using var client = cluster.Client(info => factory.OpenRdma(info, (endpoint, _) =>
        {
            Interlocked.Increment(ref exchanges);
            return ValueTask.FromResult(server.Accept(endpoint) with { Length = (ulong)engine.ArenaLength });
        }));

        var load = await LoadAsync(client, ns, chain, source.Length);
        var channel = await RdmaChannelAsync(client, cluster.Nodes[0].Info.Id);

        Assert.InRange(firstOutside, 1, Blocks - 1);
        Assert.Equal(firstOutside, load.Result.LoadedBlocks);
        Assert.Equal(PrefixOf(ns, source, firstOutside), PrefixOf(ns, load.Bytes, firstOutside));
        Assert.True(channel.FailedTransfers >= 1, "the out-of-registration reads failed");
        Assert.True(channel.Reconnects >= 1 && exchanges >= 2, $"{channel.Reconnects} reconnects, {exchanges} exchanges");
        Assert.Equal(DataPlaneTransport.Rdma, client.Transports[cluster.Nodes[0].Info.Id]);
    }

    [Fact]
    public async Task A_node_without_a_device_answers_failed_precondition_and_the_client_falls_back_to_tcp_saying_so_once()
    {
        Assert.SkipWhen(RdmaCapability.Detect().IsAvailable, "this machine has a real RDMA device; the node would serve RDMA");
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns); // started before the fake device: TCP only
        using var fake = TestShim.UseFakeDevice();
        var log = new RecordingLogger();
        await using var client = new KvTierClient(node.Directory, Options(), log);

        var (source, first, second) = await StoreThenLoadTwiceAsync(client, ns, seed: 41);
        var channel = await RdmaChannelAsync(client, node.Info.Id);

        Assert.Null(node.RdmaServer);
        Assert.Equal(Blocks, first.Result.LoadedBlocks);
        Assert.Equal(source, first.Bytes);
        Assert.Equal(Blocks, second.Result.LoadedBlocks);
        Assert.Equal(source, second.Bytes);
        Assert.Equal(DataPlaneTransport.Tcp, client.Transports[node.Info.Id]);
        Assert.Equal(0, channel.ChunksReadOverRdma);
        var line = Assert.Single(log.Lines, l => l.Contains("Data plane of node", StringComparison.Ordinal));
        Assert.StartsWith("Warning:", line, StringComparison.Ordinal);
        Assert.Contains("TCP: the node does not serve RDMA (This node serves its data plane over TCP only", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_without_a_device_uses_tcp_and_says_why()
    {
        Assert.SkipWhen(RdmaCapability.Detect().IsAvailable, "this machine has a usable RDMA device");
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns);
        var log = new RecordingLogger();
        await using var client = new KvTierClient(node.Directory, Options(), log);
        var chain = TestCluster.Chain(Blocks, seed: 51);
        var source = TestCluster.RandomBlocks(ns, Blocks, seed: 52);

        await client.StoreAsync(ns, chain, 0, source, Token);
        var load = await LoadAsync(client, ns, chain, source.Length);

        Assert.Equal(Blocks, load.Result.LoadedBlocks);
        Assert.Equal(source, load.Bytes);
        Assert.Equal(DataPlaneTransport.Tcp, client.Transports[node.Info.Id]);
        Assert.Contains(log.Lines, l => l.Contains("TCP: this host has no usable RDMA device", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Require_rdma_refuses_to_start_without_a_device_and_never_serves_a_node_that_refuses_rdma_over_tcp()
    {
        Assert.SkipWhen(RdmaCapability.Detect().IsAvailable, "this machine has a usable RDMA device");
        var ns = TestCluster.Namespace();
        await using var node = await StartNodeAsync(ns);

        var refused = Assert.Throws<InvalidOperationException>(() =>
            new KvTierClient(node.Directory, Options() with { Transport = DataPlaneTransportMode.RequireRdma }));

        Assert.Contains("Transport is RequireRdma, but this host has no usable RDMA device", refused.Message, StringComparison.Ordinal);

        using var fake = TestShim.UseFakeDevice();
        await using var client = new KvTierClient(node.Directory, Options() with { Transport = DataPlaneTransportMode.RequireRdma });
        await using var tcpClient = new KvTierClient(node.Directory, Options() with { Transport = DataPlaneTransportMode.TcpOnly });
        var chain = TestCluster.Chain(4, seed: 61);
        var source = TestCluster.RandomBlocks(ns, 4, seed: 62);
        var refusedStore = await client.StoreAsync(ns, chain, 0, source, Token);
        await tcpClient.StoreAsync(ns, chain, 0, source, Token);
        var load = await LoadAsync(client, ns, chain, source.Length);

        Assert.Equal(new StoreResult(0, 0, 4), refusedStore);
        Assert.Equal(0, load.Result.LoadedBlocks);
        Assert.Contains("Transport is RequireRdma, but TCP: the node does not serve RDMA", load.Result.FirstFailure, StringComparison.Ordinal);
        Assert.DoesNotContain(node.Info.Id, client.Transports.Keys);
    }

    private static KvTierClientOptions Options() => new()
    {
        RequestTimeout = TimeSpan.FromSeconds(10),
        MembershipCacheTime = TimeSpan.Zero,
        RdmaStagingBytes = 1 << 20,
    };

    private static async Task<NodeHost> StartNodeAsync(KvNamespace ns, Action<NodeOptions>? configure = null)
    {
        var options = new NodeOptions
        {
            NodeId = "rdma-client-test",
            DataPlane = { Host = "127.0.0.1", Port = 0 },
            ControlPlane = { Host = "127.0.0.1", Port = 0 },
            Http = { Host = "127.0.0.1", Port = 0 },
            Storage = { ArenaSize = new ByteSize(16L << 20), HugePages = false, LockMemory = false },
        };
        configure?.Invoke(options);
        var node = await NodeHost.StartAsync(options,
            (store, namespaces, anchors) => new BlockStoreFrameHandler(store, namespaces, options, NullLogger.Instance, anchorBook: anchors),
            NullLoggerFactory.Instance, Token);
        node.Namespaces.Register(ns);
        return node;
    }

    /// <summary>A tokens file granting <see cref="TenantToken"/> the namespace <paramref name="ns"/>.</summary>
    private static string WriteTokensFile(string folder, KvNamespace ns)
    {
        var path = Path.Combine(folder, "tokens.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            tokens = new object[] { new { tenant = "a", sha256 = TenantTokens.HashOf(TenantToken), namespaces = new[] { ns.Id.ToString() } } },
        }));
        return path;
    }

    /// <summary>Stores <see cref="Blocks"/> random blocks, then loads them twice (the second load reuses the channel).</summary>
    private static async Task<(byte[] Source, (LoadResult Result, byte[] Bytes) First, (LoadResult Result, byte[] Bytes) Second)>
        StoreThenLoadTwiceAsync(KvTierClient client, KvNamespace ns, int seed)
    {
        var chain = TestCluster.Chain(Blocks, seed);
        var source = TestCluster.RandomBlocks(ns, Blocks, seed + 1);
        await client.StoreAsync(ns, chain, 0, source, Token);
        return (source, await LoadAsync(client, ns, chain, source.Length), await LoadAsync(client, ns, chain, source.Length));
    }

    private static async Task<(LoadResult Result, byte[] Bytes)> LoadAsync(KvTierClient client, KvNamespace ns, BlockKey[] chain, int bytes)
    {
        var prefix = await client.LookupAsync(ns, chain, Token);
        var destination = new byte[bytes];
        var result = await client.LoadAsync(ns, prefix, destination, null, Token);
        return (result, destination);
    }

    /// <summary>The node's RDMA channel (under Auto it sits inside the shared-memory channel; these nodes do not share
    /// their arena, so it carries the loads).</summary>
    private static async Task<RdmaNodeChannel> RdmaChannelAsync(KvTierClient client, NodeId node) =>
        Assert.IsType<RdmaNodeChannel>(NodeChannelFactory.RdmaOf((await client.GetChannelAsync(node, Token))!));

    /// <summary>Where each chunk of a stored block lies in the engine's arena (leased and released at once).</summary>
    private static KvTier.Storage.ChunkExtent[] Extents(StorageEngine engine, KvNamespace ns, BlockKey key)
    {
        var extents = new KvTier.Storage.ChunkExtent[ns.Layout.Layers];
        var lease = engine.Read(new BlockId(ns.Id, key), 0, extents.Length, TimeSpan.FromSeconds(5), extents);
        Assert.Equal(ReadStatus.Hit, lease.Status);
        Assert.True(engine.ReleaseLease(lease.LeaseId));
        return extents;
    }

    /// <summary>The first <paramref name="blocks"/> blocks of a layer-major buffer of <see cref="Blocks"/> blocks.</summary>
    private static byte[] PrefixOf(KvNamespace ns, byte[] buffer, int blocks)
    {
        var chunk = ns.Layout.BytesPerLayerChunk;
        return [.. Enumerable.Range(0, ns.Layout.Layers).SelectMany(layer => buffer.AsSpan(layer * Blocks * chunk, blocks * chunk).ToArray())];
    }

    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("kvtier-rdma-auth-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    private sealed class RecordingLogger : ILogger
    {
        private readonly ConcurrentQueue<string> lines = new();

        public IReadOnlyCollection<string> Lines => lines;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
    }
}
