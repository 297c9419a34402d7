using Grpc.Core;
using Grpc.Net.Client;
using KvTier.Rdma;
using KvTier.Transport.ControlPlane;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>The queue-pair exchange with a node over its gRPC control plane (ConnectRdma): the client's endpoint goes
/// out, the node's queue pair, arena address, length and rkey come back. The call carries the client's security: https
/// with its TLS settings (CA, server name, client certificate) when TLS is configured, and its bearer token, so a node
/// with authentication checks the exchange like any other call. A node without RDMA, or one that does not offer it to
/// this client (tokens without Rdma:AllowTenants, TLS without Rdma:AllowWithTls), answers FAILED_PRECONDITION with its
/// reason.</summary>
internal sealed class ControlPlaneRdmaConnector : IDisposable
{
    private readonly GrpcChannel channel;
    private readonly Metadata? headers;
    private readonly TimeSpan timeout;

    public ControlPlaneRdmaConnector(string controlPlaneAddress, FrameConnectionOptions security, TimeSpan timeout)
    {
        this.timeout = timeout;
        var hasScheme = controlPlaneAddress.Contains("://", StringComparison.Ordinal);
        if (security.Tls is null)
        {
            channel = GrpcChannel.ForAddress(hasScheme ? controlPlaneAddress : $"http://{controlPlaneAddress}");
        }
        else
        {
            var handler = new SocketsHttpHandler { SslOptions = security.Tls };
            channel = GrpcChannel.ForAddress(hasScheme ? controlPlaneAddress : $"https://{controlPlaneAddress}",
                new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        }

        headers = security.Token is null ? null : new Metadata { { "authorization", "Bearer " + security.Token } };
    }

    /// <exception cref="RpcException">The node refused or could not be reached.</exception>
    /// <exception cref="ArgumentException">The node's answer is malformed; the message names the field.</exception>
    public async ValueTask<RdmaRemoteArena> ConnectAsync(KvTier.Rdma.RdmaEndpoint local, CancellationToken cancellationToken)
    {
        var client = new NodeControl.NodeControlClient(channel);
        var reply = await client.ConnectRdmaAsync(new ConnectRdmaRequest { Client = RdmaEndpointWire.ToWire(local) }, headers,
            deadline: DateTime.UtcNow + timeout, cancellationToken: cancellationToken);
        if (reply.ArenaBytes == 0 || reply.ArenaAddress > ulong.MaxValue - reply.ArenaBytes)
        {
            throw new ArgumentException($"node arena [0x{reply.ArenaAddress:x}, +{reply.ArenaBytes}) is not a usable region.");
        }

        return new RdmaRemoteArena(RdmaEndpointWire.FromWire(reply.Node, "node"), reply.ArenaAddress, reply.ArenaBytes, reply.ArenaRkey);
    }

    public void Dispose() => channel.Dispose();
}
