using KvTier.Node.Configuration;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Daemon;

/// <summary>Chooses the data-plane handler the daemon serves.</summary>
internal static class DaemonHandlers
{
    /// <summary>The factory passed to NodeHost. Until the block-store handler (KvTier.Node.DataPlane) is merged, the
    /// daemon answers Ping and refuses every other opcode with <see cref="FrameStatus.BadRequest"/>. The merged
    /// handler must record each block's anchor in the book before committing and implement
    /// <see cref="IDrainableFrameHandler"/> so a drain refuses writes.</summary>
    public static Func<IBlockStore, NamespaceRegistry, BlockAnchorBook, IFrameHandler> Create(NodeOptions options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return (_, _, _) => new PingOnlyFrameHandler();
    }
}
