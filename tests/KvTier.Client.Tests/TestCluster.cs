using System.Net;
using System.Security.Cryptography;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Node;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Tcp;

namespace KvTier.Client.Tests;

/// <summary>Real cache nodes inside the test process: a storage engine with a small arena, the data-plane handler
/// behind a real FrameServer on a loopback port, registered in a real directory.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    private TestCluster(IBlockDirectory directory, List<TestNode> nodes)
    {
        Directory = directory;
        Nodes = nodes;
    }

    public IBlockDirectory Directory { get; }

    public List<TestNode> Nodes { get; }

    public static KvNamespace Namespace(string codec = "lz4", string tenant = "tests") =>
        new("tiny", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, 16), tenant, BlockHashAlgorithm.Xxh3, codec, 1000);

    public static async Task<TestCluster> StartAsync(int nodeCount, IBlockDirectory? directory = null, params KvNamespace[] namespaces)
    {
        directory ??= new InProcessBlockDirectory();
        var nodes = new List<TestNode>();
        for (var i = 0; i < nodeCount; i++)
        {
            nodes.Add(await TestNode.StartAsync(directory, (ulong)RandomNumberGenerator.GetInt32(1, int.MaxValue), namespaces));
        }

        return new TestCluster(directory, nodes);
    }

    public KvTierClient Client(int replication = 1) => new(Directory, Options(replication), ConsoleTestLogger.Instance);

    /// <summary>A client whose data-plane channels are made by <paramref name="openChannel"/> (the transport seam).</summary>
    public KvTierClient Client(Func<NodeInfo, INodeChannel> openChannel, int replication = 1, FrameLimits? limits = null) =>
        new(Directory, Options(replication) with { Limits = limits ?? FrameLimits.Default }, ConsoleTestLogger.Instance, openChannel);

    private static KvTierClientOptions Options(int replication) => new()
    {
        ReplicationFactor = replication,
        RequestTimeout = TimeSpan.FromSeconds(10),
        MembershipCacheTime = TimeSpan.Zero,
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        await Directory.DisposeAsync();
    }

    /// <summary>Random raw chunks for <paramref name="blocks"/> blocks, layer-major.</summary>
    public static byte[] RandomBlocks(KvNamespace ns, int blocks, int seed)
    {
        var bytes = new byte[KvTierClient.BufferBytes(ns, blocks, ns.Layout.Layers)];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A chain of distinct random keys.</summary>
    public static BlockKey[] Chain(int length, int seed)
    {
        var random = new Random(seed);
        var keys = new BlockKey[length];
        Span<byte> bytes = stackalloc byte[BlockKey.Size];
        for (var i = 0; i < length; i++)
        {
            random.NextBytes(bytes);
            keys[i] = BlockKey.FromBytes(bytes);
        }

        return keys;
    }
}

internal sealed class TestNode : IAsyncDisposable
{
    private TestNode(NodeInfo info, StorageEngine engine, BlockStoreFrameHandler handler, FrameServer server)
    {
        Info = info;
        Engine = engine;
        Handler = handler;
        Server = server;
    }

    public NodeInfo Info { get; }

    public StorageEngine Engine { get; }

    public BlockStoreFrameHandler Handler { get; }

    public FrameServer Server { get; private set; }

    public bool Stopped { get; private set; }

    /// <summary>Starts a node; with <paramref name="sharedDirectory"/> its arena is shared through a file there, and
    /// <paramref name="port"/> (0: any) lets a restarted node come back at the same address.</summary>
    public static async Task<TestNode> StartAsync(IBlockDirectory directory, ulong id, KvNamespace[] namespaces, string? sharedDirectory = null,
        NodeOptions? options = null, int port = 0)
    {
        var engine = StorageEngine.Open(new StorageOptions
        {
            HostArenaBytes = 32L << 20,
            TryHugeTlb = false,
            TryLockMemory = false,
            SharedMemoryDirectory = sharedDirectory,
            SharedMemoryOwner = $"test-{id}",
            SharedMemoryGroupWrites = options?.SharedMemory.AllowWrites ?? false,
        });
        var registry = new NamespaceRegistry();
        foreach (var ns in namespaces)
        {
            registry.Register(ns);
        }

        var handler = new BlockStoreFrameHandler(engine, registry, options ?? new NodeOptions(), ConsoleTestLogger.Instance);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, port), handler,
            new FrameServerOptions { Limits = handler.Limits, Instance = engine.SharedArena?.Instance ?? Guid.NewGuid() }, ConsoleTestLogger.Instance);
        server.Start();
        var info = new NodeInfo(new NodeId(id), 1, server.LocalEndPoint.ToString(), "127.0.0.1:1", false, engine.ArenaLength, engine.ArenaLength);
        await directory.RegisterNodeAsync(info, TimeSpan.FromMinutes(5));
        return new TestNode(info, engine, handler, server);
    }

    /// <summary>Kills the data plane without telling the directory, as a crashed node would.</summary>
    public async Task StopAsync()
    {
        if (!Stopped)
        {
            Stopped = true;
            await Server.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Engine.Dispose();
    }
}
