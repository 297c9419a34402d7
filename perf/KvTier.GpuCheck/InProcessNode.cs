using System.Net;
using KvTier.BlockDirectory;
using KvTier.Core;
using KvTier.Node;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Storage;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.GpuCheck;

/// <summary>A cache node inside the check process, as the daemon assembles it minus the ASP.NET host: storage
/// engine, block-store handler, FrameServer on a loopback port, registered in the given directory.</summary>
internal sealed class InProcessNode : IAsyncDisposable
{
    private readonly StorageEngine engine;
    private readonly FrameServer server;

    private InProcessNode(StorageEngine engine, FrameServer server)
    {
        this.engine = engine;
        this.server = server;
    }

    public static async Task<InProcessNode> StartAsync(IBlockDirectory directory, ulong id, long arenaBytes, KvNamespace ns)
    {
        var engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = arenaBytes, TryHugeTlb = false, TryLockMemory = false });
        var registry = new NamespaceRegistry();
        registry.Register(ns);
        var handler = new BlockStoreFrameHandler(engine, registry, new NodeOptions(), NullLogger.Instance);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, handler.Limits, NullLogger.Instance);
        server.Start();
        await directory.RegisterNodeAsync(new NodeInfo(new NodeId(id), 1, server.LocalEndPoint.ToString(), "127.0.0.1:1", false,
            engine.ArenaLength, engine.ArenaLength), TimeSpan.FromHours(1));
        return new InProcessNode(engine, server);
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        engine.Dispose();
    }
}
