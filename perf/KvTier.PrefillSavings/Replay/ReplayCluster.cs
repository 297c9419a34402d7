using KvTier.BlockDirectory;
using KvTier.Core;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.PrefillSavings.Replay;

/// <summary>Cache nodes a replay runs against, and the directory its client uses.</summary>
internal interface IReplayCluster : IAsyncDisposable
{
    /// <summary>What serves the blocks, for the report.</summary>
    string Description { get; }

    /// <summary>The directory the client looks up and publishes in.</summary>
    IBlockDirectory ClientDirectory { get; }
}

/// <summary>The embedded default: one <see cref="NodeHost"/> in this process (the same composition as the
/// kvtier-node daemon: storage engine, block-store handler with the anchor book, directory publisher) on loopback
/// ports, with its in-process directory.</summary>
internal sealed class EmbeddedCluster : IReplayCluster
{
    private readonly NodeHost node;

    private EmbeddedCluster(NodeHost node) => this.node = node;

    public string Description => $"1 in-process node (NodeHost, data plane {node.DataPlaneEndPoint}), in-process directory";

    public IBlockDirectory ClientDirectory => node.Directory;

    public static async Task<EmbeddedCluster> StartAsync(KvNamespace kvNamespace, long arenaBytes, CancellationToken cancellationToken)
    {
        var options = new NodeOptions { NodeId = "prefill-savings-embedded" };
        options.DataPlane.Host = options.ControlPlane.Host = options.Http.Host = "127.0.0.1";
        options.DataPlane.Port = options.ControlPlane.Port = options.Http.Port = 0;
        options.Storage.ArenaSize = new ByteSize(arenaBytes);
        options.Storage.HugePages = false;
        options.Storage.LockMemory = false;
        var node = await NodeHost.StartAsync(options,
            (store, namespaces, anchors) => new BlockStoreFrameHandler(store, namespaces, options, NullLogger.Instance, anchorBook: anchors),
            NullLoggerFactory.Instance, cancellationToken);
        node.Namespaces.Register(kvNamespace);
        return new EmbeddedCluster(node);
    }

    public ValueTask DisposeAsync() => node.DisposeAsync();
}
