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

/// <summary>One node in this process: storage engine, data-plane handler, FrameServer on loopback, in-process directory.</summary>
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

    public static async Task<LoadNode> StartAsync(KvNamespace ns, long arenaBytes)
    {
        var engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = arenaBytes, TryLockMemory = false });
        var registry = new NamespaceRegistry();
        registry.Register(ns);
        var handler = new BlockStoreFrameHandler(engine, registry, new NodeOptions(), NullLogger.Instance);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, handler.Limits, NullLogger.Instance);
        server.Start();
        var directory = new InProcessBlockDirectory();
        await directory.RegisterNodeAsync(new NodeInfo(new NodeId(1), 1, server.LocalEndPoint.ToString(), "127.0.0.1:1", false,
            engine.ArenaLength, engine.ArenaLength), TimeSpan.FromHours(1));
        return new LoadNode(engine, server, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        await Directory.DisposeAsync();
        engine.Dispose();
    }
}
