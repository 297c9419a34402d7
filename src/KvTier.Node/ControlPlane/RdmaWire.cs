using KvTier.Rdma;
using WireEndpoint = KvTier.Transport.ControlPlane.RdmaEndpoint;

namespace KvTier.Node.ControlPlane;

/// <summary>The control plane's RdmaEndpoint message and the binding's <see cref="RdmaEndpoint"/>. Port and GID
/// index stay local (each side uses its own); the peer needs the GID, QP number, PSN, LID and MTU.</summary>
internal static class RdmaWire
{
    public static WireEndpoint ToWire(in RdmaEndpoint endpoint) => new()
    {
        QueuePairNumber = endpoint.QueuePairNumber,
        PacketSequenceNumber = endpoint.PacketSequenceNumber,
        Gid = Google.Protobuf.ByteString.CopyFrom(endpoint.Gid),
        Lid = endpoint.Lid,
        Mtu = endpoint.Mtu,
    };

    /// <exception cref="ArgumentException">A field is missing or out of range; the message names it.</exception>
    public static RdmaEndpoint FromWire(WireEndpoint? wire)
    {
        if (wire is null)
        {
            throw new ArgumentException("client endpoint is missing.");
        }

        if (wire.Gid.Length != 16)
        {
            throw new ArgumentException($"client.gid must be 16 bytes, not {wire.Gid.Length}.");
        }

        if (wire.QueuePairNumber is 0 or > 0xFFFFFF)
        {
            throw new ArgumentException($"client.queue_pair_number {wire.QueuePairNumber} is not a 24-bit QP number.");
        }

        if (wire.PacketSequenceNumber > 0xFFFFFF)
        {
            throw new ArgumentException($"client.packet_sequence_number {wire.PacketSequenceNumber} is not a 24-bit PSN.");
        }

        if (wire.Lid > ushort.MaxValue)
        {
            throw new ArgumentException($"client.lid {wire.Lid} is not a 16-bit LID.");
        }

        var endpoint = new RdmaEndpoint
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
