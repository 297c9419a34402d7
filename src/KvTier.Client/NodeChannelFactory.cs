using KvTier.BlockDirectory;
using KvTier.Rdma;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>Opens each node's data-plane channel for the client's <see cref="KvTierClientOptions.Transport"/>, and owns
/// what the RDMA channels share: this host's device report (probed once) and the device context (opened on first use).</summary>
internal sealed class NodeChannelFactory : IDisposable
{
    private readonly KvTierClientOptions options;
    private readonly FrameConnectionOptions connectionOptions;
    private readonly ILogger logger;
    private readonly bool tlsKeepsTcp;
    private readonly Lazy<RdmaCapabilityReport> local = new(RdmaCapability.Detect);
    private readonly Lock gate = new();
    private RdmaContext? context;
    private bool disposed;

    /// <exception cref="InvalidOperationException"><see cref="DataPlaneTransportMode.RequireRdma"/> on a host without a usable
    /// RDMA device; the message says why there is none.</exception>
    public NodeChannelFactory(KvTierClientOptions options, FrameConnectionOptions connectionOptions, ILogger logger)
    {
        this.options = options;
        this.connectionOptions = connectionOptions;
        this.logger = logger;
        // The queue-pair exchange goes over the control plane with the client's TLS and token (the node decides whether
        // it offers RDMA to token holders: Rdma:AllowTenants), but RDMA traffic itself is not encrypted: a TLS client
        // uses it only when told so (AllowRdmaWithTls).
        tlsKeepsTcp = options.Tls is not null && !options.AllowRdmaWithTls;
        if (tlsKeepsTcp && options.Transport == DataPlaneTransportMode.Auto)
        {
            logger.LogInformation("Data plane: TCP (TLS) for every node: TLS is configured and RDMA would carry block bytes " +
                "unencrypted (AllowRdmaWithTls is off).");
        }

        if (tlsKeepsTcp && options.Transport == DataPlaneTransportMode.RequireRdma)
        {
            throw new InvalidOperationException("Transport is RequireRdma with TLS configured, but RDMA carries block bytes unencrypted: " +
                "set AllowRdmaWithTls = true to accept that (the nodes need Rdma:AllowWithTls), or use Auto or TcpOnly.");
        }

        if (options.Transport == DataPlaneTransportMode.RequireRdma && !Local.IsAvailable)
        {
            throw new InvalidOperationException(
                $"Transport is RequireRdma, but this host has no usable RDMA device: {Local.Reason.Split('\n')[0]}. " +
                "Use Auto to fall back to TCP, or see docs/rdma.md.");
        }
    }

    /// <summary>This host's RDMA devices, probed once.</summary>
    public RdmaCapabilityReport Local => local.Value;

    /// <summary>The device context every RDMA channel of this client creates its queue pairs on.</summary>
    /// <exception cref="RdmaException">The device cannot be opened.</exception>
    public RdmaContext Context
    {
        get
        {
            lock (gate)
            {
                ObjectDisposedException.ThrowIf(disposed, this);
                return context ??= RdmaContext.Open();
            }
        }
    }

    /// <summary>The node's channel: TCP or RDMA as the settings say, inside a shared-memory channel under
    /// <see cref="DataPlaneTransportMode.Auto"/> with <see cref="KvTierClientOptions.UseSharedMemory"/> (loads from a
    /// node on this host that shares its arena then skip the network stack).</summary>
    public INodeChannel Open(NodeInfo node)
    {
        var (pool, tcp) = OpenTcp(node);
        INodeChannel channel = options.Transport == DataPlaneTransportMode.TcpOnly || tlsKeepsTcp ? tcp : OpenRdma(node, pool, tcp, null);
        return options.Transport == DataPlaneTransportMode.Auto && options.UseSharedMemory
            ? new SharedMemoryNodeChannel(node, pool, channel, options, logger)
            : channel;
    }

    /// <summary>The RDMA channel of a node's channel, inside a shared-memory channel or not; null when it has none.</summary>
    public static RdmaNodeChannel? RdmaOf(INodeChannel channel) =>
        channel as RdmaNodeChannel ?? (channel as SharedMemoryNodeChannel)?.Inner as RdmaNodeChannel;

    /// <summary>An RDMA channel whose queue-pair exchange goes through <paramref name="connector"/> (null: the node's
    /// control plane, ConnectRdma over gRPC).</summary>
    public RdmaNodeChannel OpenRdma(NodeInfo node, RdmaConnector? connector)
    {
        var (pool, tcp) = OpenTcp(node);
        return OpenRdma(node, pool, tcp, connector);
    }

    private RdmaNodeChannel OpenRdma(NodeInfo node, NodeConnectionPool pool, TcpNodeChannel tcp, RdmaConnector? connector)
    {
        var controlPlane = connector is null ? new ControlPlaneRdmaConnector(node.ControlPlaneAddress, connectionOptions, options.RequestTimeout) : null;
        return new RdmaNodeChannel(node, pool, tcp, this, connector ?? controlPlane!.ConnectAsync, controlPlane, options, logger);
    }

    /// <summary>Closes the device context; call after every channel is disposed.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            context?.Dispose();
            context = null;
        }
    }

    private (NodeConnectionPool Pool, TcpNodeChannel Channel) OpenTcp(NodeInfo node)
    {
        var pool = new NodeConnectionPool(NodeConnectionPool.ParseAddress(node.DataPlaneAddress), options.ConnectionsPerNode, connectionOptions,
            options.RequestTimeout);
        return (pool, new TcpNodeChannel(pool, options.Limits));
    }
}
