namespace KvTier.Client;

/// <summary>Which transport a client may use for the nodes' data plane.</summary>
public enum DataPlaneTransportMode
{
    /// <summary>RDMA with each node where both ends have a usable device and the node serves its arena over RDMA;
    /// TCP otherwise (said once per node in the log).</summary>
    Auto,

    /// <summary>TCP only, even where RDMA is available.</summary>
    TcpOnly,

    /// <summary>RDMA only: the client refuses to start without a usable local device, and a node that cannot be
    /// reached over RDMA is treated as unreachable (loads try another copy), never silently served over TCP.</summary>
    RequireRdma,
}
