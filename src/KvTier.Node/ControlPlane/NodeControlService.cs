using Grpc.Core;
using KvTier.Core;
using KvTier.Node.Hosting;
using KvTier.Transport;
using KvTier.Transport.ControlPlane;
using Microsoft.Extensions.Logging;
using NodeInfoReply = KvTier.Transport.ControlPlane.NodeInfo;

namespace KvTier.Node.ControlPlane;

/// <summary>The gRPC control plane: node info and capabilities, stats, drain, namespace admin, and the RDMA
/// queue-pair exchange (refused with the reason where the node serves TCP only). Bad requests are answered
/// <see cref="StatusCode.InvalidArgument"/> naming the offending field.</summary>
public sealed class NodeControlService(NodeHost node, ILoggerFactory loggerFactory) : NodeControl.NodeControlBase
{
    private readonly ILogger logger = loggerFactory.CreateLogger("KvTier.Node.ControlPlane");

    /// <inheritdoc/>
    public override Task<NodeInfoReply> GetNodeInfo(GetNodeInfoRequest request, ServerCallContext context)
    {
        var stats = node.Store.GetStats();
        var dataPlane = node.Info.DataPlaneAddress;
        var colon = dataPlane.LastIndexOf(':');
        return Task.FromResult(new NodeInfoReply
        {
            NodeId = node.Options.NodeId,
            Version = NodeIdentity.Version,
            ProtocolVersion = FrameHeader.Version,
            DataPlaneAddress = dataPlane[..colon],
            DataPlanePort = uint.Parse(dataPlane[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture),
            RdmaAvailable = node.RdmaServer is not null,
            RdmaUnavailableReason = node.RdmaServer is null ? node.RdmaStatus : string.Empty,
            ArenaBytes = (ulong)stats.HostCapacityBytes,
            NvmeBytes = (ulong)stats.NvmeCapacityBytes,
            State = ToWire(node.State),
        });
    }

    /// <inheritdoc/>
    public override Task<NodeStats> GetStats(GetStatsRequest request, ServerCallContext context)
    {
        var reply = new NodeStats();
        foreach (var line in node.Metrics.Render().Split('\n'))
        {
            // Plain samples only ("name value"); labelled series and histogram buckets stay on /metrics.
            var parts = line.Split(' ');
            if (parts.Length == 2 && !line.StartsWith('#') && !parts[0].Contains('{', StringComparison.Ordinal)
                && double.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                reply.Values[parts[0].StartsWith("kvtier_", StringComparison.Ordinal) ? parts[0]["kvtier_".Length..] : parts[0]] = value;
            }
        }

        return Task.FromResult(reply);
    }

    /// <inheritdoc/>
    public override async Task<DrainReply> Drain(DrainRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var timeout = request.TimeoutMs == 0 ? (TimeSpan?)null : TimeSpan.FromMilliseconds(request.TimeoutMs);
        logger.LogInformation("Drain requested over the control plane by {Peer}", context?.Peer);
        await node.DrainAsync(timeout);
        return new DrainReply { State = ToWire(node.State) };
    }

    /// <inheritdoc/>
    public override Task<RegisterNamespaceReply> RegisterNamespace(RegisterNamespaceRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Namespace is null)
        {
            throw Invalid("namespace is missing.");
        }

        KvNamespace kvNamespace;
        try
        {
            kvNamespace = NamespaceRegistry.FromDescriptor(request.Namespace);
        }
        catch (Exception error) when (error is ArgumentException or FormatException)
        {
            throw Invalid($"namespace: {error.Message}");
        }

        NamespaceId id;
        try
        {
            id = node.Namespaces.Register(kvNamespace);
        }
        catch (IOException error)
        {
            logger.LogError("Could not persist namespace {NamespaceId} to {File}: {Reason}", kvNamespace.Id, node.Namespaces.FilePath, error.Message);
            throw new RpcException(new Status(StatusCode.Unavailable, $"The node could not persist the namespace: {error.Message}"));
        }

        logger.LogInformation("Namespace {NamespaceId} registered ({Model})", id, kvNamespace.ModelId);
        return Task.FromResult(new RegisterNamespaceReply { NamespaceId = id.Value });
    }

    /// <inheritdoc/>
    public override Task<ListNamespacesReply> ListNamespaces(ListNamespacesRequest request, ServerCallContext context)
    {
        var reply = new ListNamespacesReply();
        foreach (var kvNamespace in node.Namespaces.All)
        {
            reply.Namespaces.Add(NamespaceRegistry.ToDescriptor(kvNamespace));
            reply.NamespaceIds.Add(kvNamespace.Id.Value);
        }

        return Task.FromResult(reply);
    }

    /// <inheritdoc/>
    public override Task<DropNamespaceReply> DropNamespace(DropNamespaceRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var id = new NamespaceId(request.NamespaceId);
        bool removed;
        try
        {
            removed = node.Namespaces.Remove(id);
        }
        catch (IOException error)
        {
            logger.LogError("Could not persist the drop of namespace {NamespaceId} to {File}: {Reason}", id, node.Namespaces.FilePath, error.Message);
            throw new RpcException(new Status(StatusCode.Unavailable, $"The node could not persist the drop: {error.Message}"));
        }

        if (!removed)
        {
            throw Invalid($"namespace_id {id} is not registered on this node.");
        }

        // Each delete reaches the publisher as a removal, which unpublishes the block.
        ulong deleted = 0;
        foreach (var block in node.Store.EnumerateBlocks())
        {
            if (block.Id.Namespace == id && node.Store.Delete(block.Id))
            {
                deleted++;
            }
        }

        logger.LogInformation("Namespace {NamespaceId} dropped: {Blocks} blocks deleted", id, deleted);
        return Task.FromResult(new DropNamespaceReply { BlocksRemoved = deleted });
    }

    /// <inheritdoc/>
    public override Task<ConnectRdmaReply> ConnectRdma(ConnectRdmaRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var server = node.RdmaServer ?? throw new RpcException(new Status(StatusCode.FailedPrecondition,
            $"This node serves its data plane over TCP only (at {node.Info.DataPlaneAddress}): {node.RdmaStatus}"));
        KvTier.Rdma.RdmaEndpoint client;
        try
        {
            client = RdmaEndpointWire.FromWire(request.Client, "client");
        }
        catch (ArgumentException error)
        {
            throw Invalid(error.Message);
        }

        try
        {
            var arena = server.Accept(client);
            logger.LogInformation("RDMA queue pair {NodeQueuePair} connected to client QP {ClientQueuePair} ({Peer}, tenant {Tenant})",
                arena.Endpoint.QueuePairNumber, client.QueuePairNumber, context?.Peer, TenantOf(context) ?? "(no authentication)");
            return Task.FromResult(new ConnectRdmaReply
            {
                Node = RdmaEndpointWire.ToWire(arena.Endpoint),
                ArenaAddress = arena.Address,
                ArenaBytes = arena.Length,
                ArenaRkey = arena.RemoteKey,
            });
        }
        catch (KvTier.Rdma.RdmaException error)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, $"RDMA connection refused: {error.Message}"));
        }
    }

    /// <summary>The tenant whose token the call carried (the interceptor has already checked it); null without
    /// authentication.</summary>
    private string? TenantOf(ServerCallContext? context)
    {
        var header = context?.RequestHeaders.GetValue("authorization");
        return node.Tokens is null || header is null || header.Length <= "Bearer ".Length
            ? null
            : node.Tokens.Find(header["Bearer ".Length..].Trim())?.Tenant;
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));

    private static NodeState ToWire(NodeLifecycle state) => state switch
    {
        NodeLifecycle.Starting => NodeState.Starting,
        NodeLifecycle.Serving => NodeState.Serving,
        NodeLifecycle.Draining or NodeLifecycle.Stopped => NodeState.Draining,
        _ => NodeState.Unspecified,
    };
}
