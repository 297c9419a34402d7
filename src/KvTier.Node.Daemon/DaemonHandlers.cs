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
    /// daemon answers Ping and refuses every other opcode with <see cref="FrameStatus.BadRequest"/>.</summary>
    public static Func<IBlockStore, NamespaceRegistry, IFrameHandler> Create(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        return (_, _) => new PingOnlyFrameHandler();
    }
}
