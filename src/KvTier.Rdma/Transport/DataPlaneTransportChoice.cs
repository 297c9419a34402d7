namespace KvTier.Rdma;

/// <summary>The transport a client uses for a node's data plane.</summary>
public enum DataPlaneTransport
{
    /// <summary>The framed TCP data plane (always available).</summary>
    Tcp,

    /// <summary>One-sided RDMA READ/WRITE against the node's registered arena.</summary>
    Rdma,

    /// <summary>Loads copied straight out of the node's arena file, mapped read-only by a client on the same host
    /// (leases over TCP; stores over the node's other transport).</summary>
    SharedMemory,
}

/// <summary>The transport picked for a node and why, for the log line and the transport metric.</summary>
/// <param name="Transport">TCP or RDMA.</param>
/// <param name="Reason">One line naming what decided it.</param>
public sealed record DataPlaneTransportChoice(DataPlaneTransport Transport, string Reason)
{
    /// <summary>RDMA only where both ends have a usable device and the node serves its arena over RDMA; TCP
    /// otherwise, with the side that lacks it named.</summary>
    /// <param name="local">This process's <see cref="RdmaCapability.Detect"/> report.</param>
    /// <param name="nodeOffersRdma">The node's GetNodeInfo said rdma_available.</param>
    /// <param name="nodeReason">The node's rdma_unavailable_reason when it does not.</param>
    /// <param name="enabled">The client's own switch (false forces TCP).</param>
    public static DataPlaneTransportChoice Choose(RdmaCapabilityReport local, bool nodeOffersRdma, string? nodeReason,
        bool enabled = true)
    {
        ArgumentNullException.ThrowIfNull(local);
        if (!enabled)
        {
            return new(DataPlaneTransport.Tcp, "TCP: RDMA is switched off in the client's settings");
        }

        if (!local.IsAvailable)
        {
            return new(DataPlaneTransport.Tcp, $"TCP: this host has no usable RDMA device ({local.Reason})");
        }

        if (!nodeOffersRdma)
        {
            return new(DataPlaneTransport.Tcp,
                $"TCP: the node does not serve RDMA ({(string.IsNullOrEmpty(nodeReason) ? "no reason given" : nodeReason)})");
        }

        return new(DataPlaneTransport.Rdma, $"RDMA: both ends have a usable device ({local.Reason})");
    }
}
