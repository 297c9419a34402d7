using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Daemon;

/// <summary>Chooses the data-plane handler the daemon serves: the block-store handler, drainable.</summary>
internal static class DaemonHandlers
{
    /// <summary>The factory passed to NodeHost.</summary>
    /// <remarks>Clients publish the blocks they store (they know each block's chain anchor); the wire format does not
    /// carry anchors yet, so the handler does not record them in the anchor book, and the node itself cannot
    /// unpublish evicted blocks: a load that finds one gone unpublishes that stale entry.</remarks>
    public static Func<IBlockStore, NamespaceRegistry, BlockAnchorBook, IFrameHandler> Create(NodeOptions options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return (store, namespaces, _) => new DrainableBlockStoreHandler(
            new BlockStoreFrameHandler(store, namespaces, options, loggerFactory.CreateLogger<BlockStoreFrameHandler>()));
    }

    /// <summary>Lets a drain stop reservations on the block-store handler while reads continue.</summary>
    private sealed class DrainableBlockStoreHandler(BlockStoreFrameHandler inner) : IDrainableFrameHandler
    {
        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            inner.HandleAsync(request, responder, cancellationToken);

        public void StopAcceptingWrites() => inner.StartDraining();
    }
}
