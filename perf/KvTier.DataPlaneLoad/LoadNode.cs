using System.Net;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Core;
using KvTier.Node;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Storage;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.DataPlaneLoad;

/// <summary>One node in this process: storage engine (its arena shared through /dev/shm, writes allowed, so a client
/// may load and store through shared memory), data-plane handler, FrameServer on loopback, in-process directory.</summary>
internal sealed class LoadNode : IAsyncDisposable
{
    private readonly StorageEngine engine;
    private readonly FrameServer server;

    private LoadNode(StorageEngine engine, FrameServer server, IBlockDirectory directory)
    {
        this.engine = engine;
        this.server = server;
        Directory = directory;
    }

    public IBlockDirectory Directory { get; }

    /// <summary>Whether the arena is shared (this host has /dev/shm), so the shared-memory client can be measured.</summary>
    public bool Shared => engine.SharedArena is not null;

    public static async Task<LoadNode> StartAsync(KvNamespace ns, long arenaBytes)
    {
        var engine = StorageEngine.Open(new StorageOptions
        {
            HostArenaBytes = arenaBytes,
            TryLockMemory = false,
            SharedMemoryDirectory = System.IO.Directory.Exists("/dev/shm") ? "/dev/shm" : null,
            SharedMemoryOwner = $"load-{Environment.ProcessId}",
            SharedMemoryGroupWrites = true,
        });
        Prefault(engine);
        var registry = new NamespaceRegistry();
        registry.Register(ns);
        var handler = new BlockStoreFrameHandler(engine, registry, new NodeOptions(), NullLogger.Instance);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler,
            new FrameServerOptions { Limits = handler.Limits, Instance = engine.SharedArena?.Instance ?? Guid.NewGuid() }, NullLogger.Instance);
        server.Start();
        var directory = new InProcessBlockDirectory();
        await directory.RegisterNodeAsync(new NodeInfo(new NodeId(1), 1, server.LocalEndPoint.ToString(), "127.0.0.1:1", false,
            engine.ArenaLength, engine.ArenaLength), TimeSpan.FromHours(1));
        return new LoadNode(engine, server, directory);
    }

    /// <summary>Touches every arena page once. A node locks its arena by default (Storage:LockMemory), which maps every
    /// page at start; this process cannot (RLIMIT_MEMLOCK), and without it the first stores pay for faulting in fresh
    /// huge pages (with direct compaction on a busy machine, milliseconds each) inside the measured cells.</summary>
    private static unsafe void Prefault(StorageEngine engine)
    {
        for (long offset = 0; offset < engine.ArenaLength; offset += 1 << 30)
        {
            new Span<byte>((byte*)engine.ArenaAddress + offset, (int)Math.Min(1L << 30, engine.ArenaLength - offset)).Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        await Directory.DisposeAsync();
        engine.Dispose();
    }
}
