using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Daemon;

/// <summary>Chooses the data-plane handler the daemon serves: the block-store handler, drainable.</summary>
internal static class DaemonHandlers
{
    /// <summary>The factory passed to NodeHost.</summary>
    /// <remarks>Reservations carry each block's directory anchor, which the handler records in the anchor book, so
    /// the node publishes committed blocks, unpublishes evicted ones and re-publishes recovered ones itself.</remarks>
    public static Func<IBlockStore, NamespaceRegistry, BlockAnchorBook, IFrameHandler> Create(NodeOptions options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return (store, namespaces, anchors) => new DrainableBlockStoreHandler(
            new BlockStoreFrameHandler(store, namespaces, options, loggerFactory.CreateLogger<BlockStoreFrameHandler>(), anchorBook: anchors));
    }

    /// <summary>Lets a drain stop reservations on the block-store handler while reads continue.</summary>
    private sealed class DrainableBlockStoreHandler(BlockStoreFrameHandler inner) : IDrainableFrameHandler, IStreamedFrameHandler
    {
        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            inner.HandleAsync(request, responder, cancellationToken);

        public bool StreamsBody(Opcode opcode) => inner.StreamsBody(opcode);

        public ValueTask HandleStreamedAsync(FrameHeader header, FrameConnectionContext? connection, StreamedBody body,
            FrameResponder responder, CancellationToken cancellationToken) =>
            inner.HandleStreamedAsync(header, connection, body, responder, cancellationToken);

        public void StopAcceptingWrites() => inner.StartDraining();
    }
}
