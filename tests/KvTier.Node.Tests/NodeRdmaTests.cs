using Grpc.Core;
using Grpc.Net.Client;
using KvTier.Node.Configuration;
using KvTier.Node.Hosting;
using KvTier.Rdma;
using KvTier.Transport.ControlPlane;
using Microsoft.Extensions.Logging.Abstractions;
using WireEndpoint = KvTier.Transport.ControlPlane.RdmaEndpoint;

namespace KvTier.Node.Tests;

/// <summary>The node's side of the RDMA transport on this machine, which has no RDMA device: the node serves TCP
/// only, says why in GetNodeInfo, its log status and its metrics, and refuses the queue-pair exchange with the
/// reason; and the control plane's endpoint message is validated field by field.</summary>
public sealed class NodeRdmaTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_node_without_an_rdma_device_serves_tcp_only_and_says_why_everywhere()
    {
        Assert.SkipWhen(RdmaCapability.Detect().IsAvailable, "this machine has a usable RDMA device");
        await using var node = await NodeHost.StartAsync(new NodeOptions
        {
            NodeId = "rdma-test",
            DataPlane = { Host = "127.0.0.1", Port = 0 },
            ControlPlane = { Host = "127.0.0.1", Port = 0 },
            Http = { Host = "127.0.0.1", Port = 0 },
            Storage = { ArenaSize = new ByteSize(16L << 20), HugePages = false, LockMemory = false },
        }, (_, _) => new PingOnlyFrameHandler(), NullLoggerFactory.Instance, Token);
        using var channel = GrpcChannel.ForAddress($"http://{node.ControlPlaneEndPoint}");
        var control = new NodeControl.NodeControlClient(channel);

        var info = await control.GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token);
        var refused = await Assert.ThrowsAsync<RpcException>(async () =>
            await control.ConnectRdmaAsync(new ConnectRdmaRequest(), cancellationToken: Token));

        Assert.Null(node.RdmaServer);
        Assert.False(node.Info.SupportsRdma);
        Assert.StartsWith("TCP only: ", node.RdmaStatus, StringComparison.Ordinal);
        Assert.False(info.RdmaAvailable);
        Assert.Equal(node.RdmaStatus, info.RdmaUnavailableReason);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        Assert.Contains(node.RdmaStatus, refused.Status.Detail, StringComparison.Ordinal);
        var metrics = node.Metrics.Render();
        Assert.Contains("kvtier_rdma_enabled 0", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_rdma_connections 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_with_rdma_turned_off_serves_tcp_only_and_says_it_was_configured_so()
    {
        await using var node = await NodeHost.StartAsync(new NodeOptions
        {
            NodeId = "rdma-off",
            DataPlane = { Host = "127.0.0.1", Port = 0 },
            ControlPlane = { Host = "127.0.0.1", Port = 0 },
            Http = { Host = "127.0.0.1", Port = 0 },
            Storage = { ArenaSize = new ByteSize(16L << 20), HugePages = false, LockMemory = false },
            Rdma = { Enabled = false },
        }, (_, _) => new PingOnlyFrameHandler(), NullLoggerFactory.Instance, Token);

        Assert.Null(node.RdmaServer);
        Assert.False(node.Info.SupportsRdma);
        Assert.Equal("TCP only: RDMA is turned off by configuration (Rdma:Enabled = false)", node.RdmaStatus);
    }

    [Fact]
    public void An_endpoint_round_trips_through_the_control_plane_message()
    {
        var endpoint = new KvTier.Rdma.RdmaEndpoint { QueuePairNumber = 0x12345, PacketSequenceNumber = 0xABCDE, Lid = 7, Mtu = 4096 };
        endpoint.SetGid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 42]);

        var back = RdmaEndpointWire.FromWire(RdmaEndpointWire.ToWire(endpoint), "client");

        Assert.Equal(endpoint, back);
    }

    [Theory]
    [InlineData(15, 1u, 0u, "client.gid must be 16 bytes, not 15")]
    [InlineData(16, 0u, 0u, "client.queue_pair_number 0 is not a 24-bit QP number")]
    [InlineData(16, 1u << 24, 0u, "client.queue_pair_number 16777216 is not a 24-bit QP number")]
    [InlineData(16, 1u, 1u << 24, "client.packet_sequence_number 16777216 is not a 24-bit PSN")]
    public void A_malformed_client_endpoint_is_refused_naming_the_field(int gidBytes, uint queuePair, uint psn, string message)
    {
        var wire = new WireEndpoint
        {
            Gid = Google.Protobuf.ByteString.CopyFrom(new byte[gidBytes]),
            QueuePairNumber = queuePair,
            PacketSequenceNumber = psn,
        };

        var exception = Assert.Throws<ArgumentException>(() => RdmaEndpointWire.FromWire(wire, "client"));

        Assert.Contains(message, exception.Message, StringComparison.Ordinal);
        Assert.Contains("client endpoint is missing", Assert.Throws<ArgumentException>(() => RdmaEndpointWire.FromWire(null, "client")).Message,
            StringComparison.Ordinal);
    }
}
