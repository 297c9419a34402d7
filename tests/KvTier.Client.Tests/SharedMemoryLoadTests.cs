using System.IO.MemoryMappedFiles;
using System.Net;
using Grpc.Net.Client;
using KvTier.BlockDirectory.InProcess;
using KvTier.BlockDirectory.Redis;
using KvTier.Core;
using KvTier.Core.SharedMemory;
using KvTier.Node;
using KvTier.Node.Configuration;
using KvTier.Node.Tests;
using KvTier.Rdma;
using KvTier.Testing;
using KvTier.Transport.ControlPlane;

namespace KvTier.Client.Tests;

/// <summary>Loads from a node on the same host that shares its arena: copied out of the read-only mapped arena file,
/// verified like every other load, with TCP (or RDMA) wherever the file cannot be used.</summary>
public sealed class SharedMemoryLoadTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kvtier-shm-").FullName;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task A_node_process_sharing_its_arena_serves_loads_through_the_mapping_with_every_byte_as_stored()
    {
        var redis = RedisEndpoints.RequireSingle();
        var prefix = $"shm{Guid.NewGuid():n}:";
        var compressed = TestCluster.Namespace("lz4");
        var raw = TestCluster.Namespace("none", tenant: "raw");
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            "--node-id", "shm-a", "--redis", redis, "--Directory:KeyPrefix", prefix, "--SharedMemory:Directory", directory), Token);
        using (var channel = GrpcChannel.ForAddress($"http://{node.ControlPlane}"))
        {
            var control = new NodeControl.NodeControlClient(channel);
            foreach (var ns in new[] { compressed, raw })
            {
                await control.RegisterNamespaceAsync(new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(ns) }, cancellationToken: Token);
            }
        }

        var file = Assert.Single(Directory.GetFiles(directory, "kvtier-arena-shm-a-*.shm"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
            OperatingSystem.IsWindows() ? UnixFileMode.None : File.GetUnixFileMode(file));
        await using var nodes = await RedisBlockDirectory.ConnectAsync(new RedisDirectoryOptions { Endpoints = redis, KeyPrefix = prefix, MembershipCacheTime = TimeSpan.Zero });
        await using var client = new KvTierClient(nodes);
        foreach (var (ns, seed) in new[] { (compressed, 1), (raw, 2) })
        {
            var chain = TestCluster.Chain(12, seed);
            var source = TestCluster.RandomBlocks(ns, 12, seed);
            Assert.Equal(12, (await client.StoreAsync(ns, chain, 0, source, Token)).Stored);
            var destination = new byte[source.Length];
            var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);
            Assert.Equal(12, loaded.LoadedBlocks);
            Assert.Equal(source, destination);
        }

        Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(client.Transports).Value);
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://{node.Http}/metrics"), Token);
        Assert.Contains("kvtier_shared_arena_enabled 1", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_requests_total{opcode=\"MapArena\",status=\"Ok\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chunk_corrupted_in_the_shared_arena_is_never_loaded_and_the_prefix_ends_before_it()
    {
        var ns = TestCluster.Namespace("none");
        await using var directoryService = new InProcessBlockDirectory();
        await using var node = await TestNode.StartAsync(directoryService, 7, [ns], directory);
        await using var client = new KvTierClient(directoryService);
        var chain = TestCluster.Chain(8, seed: 3);
        var source = TestCluster.RandomBlocks(ns, 8, seed: 4);
        Assert.Equal(8, (await client.StoreAsync(ns, chain, 0, source, Token)).Stored);

        // Block 5's first chunk is stored verbatim behind its header: find its bytes in the arena file and flip one.
        var chunkBytes = (int)KvTierClient.BufferBytes(ns, 1, 1);
        var needle = source.AsMemory(5 * chunkBytes, 64);
        var path = node.Engine.SharedArena!.Path;
        using (var mapped = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite))
        using (var view = mapped.CreateViewAccessor(SharedArenaHeader.ArenaOffset, node.Engine.ArenaLength))
        {
            var at = Find(view, needle.Span, node.Engine.ArenaLength);
            view.Write(at + 10, (byte)(view.ReadByte(at + 10) ^ 0x40));
        }

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);
        Assert.Equal(5, loaded.LoadedBlocks);
        Assert.Contains("Corrupt", loaded.FirstFailure, StringComparison.Ordinal);
        Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(client.Transports).Value);
        Assert.Equal(source.AsSpan(0, 5 * chunkBytes).ToArray(), destination.AsSpan(0, 5 * chunkBytes).ToArray());
    }

    [Fact]
    public async Task After_the_node_restarts_the_client_maps_its_new_arena_and_loads_its_new_blocks()
    {
        var ns = TestCluster.Namespace("none");
        await using var directoryService = new InProcessBlockDirectory();
        var node = await TestNode.StartAsync(directoryService, 9, [ns], directory);
        var port = ((IPEndPoint)node.Server.LocalEndPoint).Port;
        await using var client = new KvTierClient(directoryService, new KvTierClientOptions { MembershipCacheTime = TimeSpan.Zero });
        await StoreAndLoadAsync(client, ns, seed: 5);
        var firstFile = node.Engine.SharedArena!.Path;
        await node.DisposeAsync();
        Assert.False(File.Exists(firstFile));

        await using var restarted = await TestNode.StartAsync(directoryService, 9, [ns], directory, port: port);
        Assert.NotEqual(firstFile, restarted.Engine.SharedArena!.Path);
        await StoreAndLoadAfterRestartAsync(client, ns, seed: 6);

        Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(client.Transports).Value);
        Assert.Equal(1, Assert.IsType<SharedMemoryNodeChannel>(await client.GetChannelAsync(restarted.Info.Id, Token)).Remaps);
    }

    [Fact]
    public async Task A_node_that_comes_back_without_sharing_is_loaded_from_over_tcp_from_then_on()
    {
        var ns = TestCluster.Namespace("none");
        await using var directoryService = new InProcessBlockDirectory();
        var node = await TestNode.StartAsync(directoryService, 15, [ns], directory);
        var port = ((IPEndPoint)node.Server.LocalEndPoint).Port;
        await using var client = new KvTierClient(directoryService, new KvTierClientOptions { MembershipCacheTime = TimeSpan.Zero });
        await StoreAndLoadAsync(client, ns, seed: 12);
        Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(client.Transports).Value);
        await node.DisposeAsync();

        await using var restarted = await TestNode.StartAsync(directoryService, 15, [ns], sharedDirectory: null, port: port);
        await StoreAndLoadAfterRestartAsync(client, ns, seed: 13);

        Assert.Equal(DataPlaneTransport.Tcp, Assert.Single(client.Transports).Value);
    }

    [Fact]
    public async Task A_node_that_does_not_share_or_refuses_or_whose_file_is_gone_is_loaded_from_over_tcp()
    {
        var ns = TestCluster.Namespace("none");
        var withTokens = new NodeOptions { Auth = new AuthOptions { TokensFile = "/nonexistent/tokens.json" } };
        foreach (var (shared, options, removeFile) in new[] { (false, (NodeOptions?)null, false), (true, withTokens, false), (true, null, true) })
        {
            await using var directoryService = new InProcessBlockDirectory();
            await using var node = await TestNode.StartAsync(directoryService, 11, [ns], shared ? directory : null, options);
            if (removeFile)
            {
                File.Delete(node.Engine.SharedArena!.Path);
            }

            await using var client = new KvTierClient(directoryService);
            await StoreAndLoadAsync(client, ns, seed: 8);
            Assert.Equal(DataPlaneTransport.Tcp, Assert.Single(client.Transports).Value);
        }
    }

    [Fact]
    public async Task With_writes_allowed_stores_fill_their_reservations_through_the_mapping_and_load_back_exactly()
    {
        var ns = TestCluster.Namespace("lz4");
        await using var directoryService = new InProcessBlockDirectory();
        var options = new NodeOptions { SharedMemory = new SharedMemoryOptions { AllowWrites = true } };
        await using var node = await TestNode.StartAsync(directoryService, 13, [ns], directory, options);
        await using var client = new KvTierClient(directoryService);
        await StoreAndLoadAsync(client, ns, seed: 10);

        var channel = Assert.IsType<SharedMemoryNodeChannel>(await client.GetChannelAsync(node.Info.Id, Token));
        Assert.Equal(6 * ns.Layout.Layers, channel.ChunksWritten);
        Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(client.Transports).Value);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
            OperatingSystem.IsWindows() ? UnixFileMode.None : File.GetUnixFileMode(node.Engine.SharedArena!.Path));
        // A second store of the same blocks moves no bytes.
        var stored = await client.StoreAsync(ns, TestCluster.Chain(6, 10), 0, TestCluster.RandomBlocks(ns, 6, 10), Token);
        Assert.Equal(6, stored.AlreadyCached);
        Assert.Equal(6 * ns.Layout.Layers, channel.ChunksWritten);
    }

    [Fact]
    public async Task Without_writes_allowed_stores_go_over_tcp_and_loads_through_the_mapping()
    {
        var ns = TestCluster.Namespace("none");
        await using var directoryService = new InProcessBlockDirectory();
        await using var node = await TestNode.StartAsync(directoryService, 14, [ns], directory);
        await using var client = new KvTierClient(directoryService);
        await StoreAndLoadAsync(client, ns, seed: 11);

        var channel = Assert.IsType<SharedMemoryNodeChannel>(await client.GetChannelAsync(node.Info.Id, Token));
        Assert.Equal(0, channel.ChunksWritten);
        Assert.True(channel.ChunksCopied > 0);
    }

    [Fact]
    public async Task UseSharedMemory_off_keeps_loads_on_tcp()
    {
        var ns = TestCluster.Namespace("none");
        await using var directoryService = new InProcessBlockDirectory();
        await using var node = await TestNode.StartAsync(directoryService, 12, [ns], directory);
        await using var client = new KvTierClient(directoryService, new KvTierClientOptions { UseSharedMemory = false });
        await StoreAndLoadAsync(client, ns, seed: 9);
        Assert.Equal(DataPlaneTransport.Tcp, Assert.Single(client.Transports).Value);
    }

    private static async Task StoreAndLoadAsync(KvTierClient client, KvNamespace ns, int seed)
    {
        var chain = TestCluster.Chain(6, seed);
        var source = TestCluster.RandomBlocks(ns, 6, seed);
        Assert.Equal(6, (await client.StoreAsync(ns, chain, 0, source, Token)).Stored);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);
        Assert.Equal(6, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    /// <summary>After a node restart: the pooled connections died with the old node, so the first requests may fail on
    /// them before new ones open; a few tries with fresh blocks.</summary>
    private static async Task StoreAndLoadAfterRestartAsync(KvTierClient client, KvNamespace ns, int seed)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await StoreAndLoadAsync(client, ns, seed + attempt);
                return;
            }
            catch (Exception error) when (attempt < 3 && error is Xunit.Sdk.XunitException or IOException)
            {
            }
        }
    }

    private static long Find(MemoryMappedViewAccessor view, ReadOnlySpan<byte> needle, long length)
    {
        var window = new byte[1 << 20];
        for (long start = 0; start < length; start += window.Length - needle.Length)
        {
            var read = view.ReadArray(start, window, 0, (int)Math.Min(window.Length, length - start));
            var at = window.AsSpan(0, read).IndexOf(needle);
            if (at >= 0)
            {
                return start + at;
            }
        }

        throw new InvalidOperationException("The block's bytes are not in the arena file.");
    }
}
