using Grpc.Net.Client;
using KvTier.Rdma;
using KvTier.Transport.ControlPlane;

namespace KvTier.Client;

/// <summary>The queue-pair exchange with a node over its gRPC control plane (ConnectRdma): the client's endpoint goes
/// out, the node's queue pair, arena address, length and rkey come back. A node without RDMA answers
/// FAILED_PRECONDITION with its reason.</summary>
internal sealed class ControlPlaneRdmaConnector(string controlPlaneAddress, TimeSpan timeout) : IDisposable
{
    private readonly GrpcChannel channel = GrpcChannel.ForAddress(
        controlPlaneAddress.Contains("://", StringComparison.Ordinal) ? controlPlaneAddress : $"http://{controlPlaneAddress}");

    /// <exception cref="Grpc.Core.RpcException">The node refused or could not be reached.</exception>
    /// <exception cref="ArgumentException">The node's answer is malformed; the message names the field.</exception>
    public async ValueTask<RdmaRemoteArena> ConnectAsync(KvTier.Rdma.RdmaEndpoint local, CancellationToken cancellationToken)
    {
        var client = new NodeControl.NodeControlClient(channel);
        var reply = await client.ConnectRdmaAsync(new ConnectRdmaRequest { Client = RdmaEndpointWire.ToWire(local) },
            deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken);
        if (reply.ArenaBytes == 0 || reply.ArenaAddress > ulong.MaxValue - reply.ArenaBytes)
        {
            throw new ArgumentException($"node arena [0x{reply.ArenaAddress:x}, +{reply.ArenaBytes}) is not a usable region.");
        }

        return new RdmaRemoteArena(RdmaEndpointWire.FromWire(reply.Node, "node"), reply.ArenaAddress, reply.ArenaBytes, reply.ArenaRkey);
    }

    public void Dispose() => channel.Dispose();
}
