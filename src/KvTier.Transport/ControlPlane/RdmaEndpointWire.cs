using WireEndpoint = KvTier.Transport.ControlPlane.RdmaEndpoint;

namespace KvTier.Transport.ControlPlane;

/// <summary>The control plane's RdmaEndpoint message and the binding's <see cref="KvTier.Rdma.RdmaEndpoint"/>, used
/// by the node (the client's endpoint in ConnectRdma) and by the client (the node's in the reply). Port and GID index
/// stay local (each side uses its own); the peer needs the GID, QP number, PSN, LID and MTU.</summary>
public static class RdmaEndpointWire
{
    /// <summary>The message for <paramref name="endpoint"/>.</summary>
    public static WireEndpoint ToWire(in KvTier.Rdma.RdmaEndpoint endpoint) => new()
    {
        QueuePairNumber = endpoint.QueuePairNumber,
        PacketSequenceNumber = endpoint.PacketSequenceNumber,
        Gid = Google.Protobuf.ByteString.CopyFrom(endpoint.Gid),
        Lid = endpoint.Lid,
        Mtu = endpoint.Mtu,
    };

    /// <summary>The endpoint a peer sent, validated field by field.</summary>
    /// <param name="wire">The message (null when the peer left it out).</param>
    /// <param name="field">The message's field name for errors ("client" on the node, "node" on the client).</param>
    /// <exception cref="ArgumentException">A field is missing or out of range; the message names it.</exception>
    public static KvTier.Rdma.RdmaEndpoint FromWire(WireEndpoint? wire, string field)
    {
        if (wire is null)
        {
            throw new ArgumentException($"{field} endpoint is missing.");
        }

        if (wire.Gid.Length != 16)
        {
            throw new ArgumentException($"{field}.gid must be 16 bytes, not {wire.Gid.Length}.");
        }

        if (wire.QueuePairNumber is 0 or > 0xFFFFFF)
        {
            throw new ArgumentException($"{field}.queue_pair_number {wire.QueuePairNumber} is not a 24-bit QP number.");
        }

        if (wire.PacketSequenceNumber > 0xFFFFFF)
        {
            throw new ArgumentException($"{field}.packet_sequence_number {wire.PacketSequenceNumber} is not a 24-bit PSN.");
        }

        if (wire.Lid > ushort.MaxValue)
        {
            throw new ArgumentException($"{field}.lid {wire.Lid} is not a 16-bit LID.");
        }

        var endpoint = new KvTier.Rdma.RdmaEndpoint
        {
            QueuePairNumber = wire.QueuePairNumber,
            PacketSequenceNumber = wire.PacketSequenceNumber,
            Lid = (ushort)wire.Lid,
            Mtu = wire.Mtu,
        };
        endpoint.SetGid(wire.Gid.Span);
        return endpoint;
    }
}
