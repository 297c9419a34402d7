using KvTier.Transport;

namespace KvTier.Client;

/// <summary>Settings of a <see cref="KvTierClient"/>, with production defaults.</summary>
public sealed record KvTierClientOptions
{
    /// <summary>Longest wait for one data-plane request (connect, lease, read, reserve, write, commit).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a node keeps leased blocks in place for a load (the load releases them when done).</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a node keeps a reservation for a store before reclaiming it.</summary>
    public TimeSpan ReservationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Copies of each stored block, on distinct nodes (at most the live node count).</summary>
    public int ReplicationFactor { get; init; } = 1;

    /// <summary>Pipelined TCP connections kept open to each node.</summary>
    public int ConnectionsPerNode { get; init; } = 2;

    /// <summary>How long the list of live nodes (addresses, free space) is reused before the directory is asked again.</summary>
    public TimeSpan MembershipCacheTime { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Most blocks sent to one node in one request (larger batches are split).</summary>
    public int MaxBlocksPerRequest { get; init; } = 1024;

    /// <summary>Transport of the data plane (default <see cref="DataPlaneTransportMode.Auto"/>: RDMA where both ends
    /// can, TCP otherwise). Leases, reservations and commits travel over TCP; RDMA carries the chunks of loads and stores.</summary>
    public DataPlaneTransportMode Transport { get; init; } = DataPlaneTransportMode.Auto;

    /// <summary>Under <see cref="DataPlaneTransportMode.Auto"/>, load from a node on this host that shares its arena
    /// (SharedMemory:Directory) by mapping its arena file read-only and copying leased blocks straight out of it,
    /// verified as always (default true). A node elsewhere, or one whose file this process cannot open, is loaded from
    /// over RDMA or TCP as before; stores never use the mapping.</summary>
    public bool UseSharedMemory { get; init; } = true;

    /// <summary>Bytes of the registered host staging buffer each RDMA node channel reads chunks into before they are
    /// verified and decoded (a load larger than this is read in several rounds; one block must fit).</summary>
    public int RdmaStagingBytes { get; init; } = 32 << 20;

    /// <summary>Protocol limits (must not exceed the nodes').</summary>
    public FrameLimits Limits { get; init; } = FrameLimits.Default;

    /// <summary>TLS to the nodes' data plane (null: plain TCP). Must match the nodes: a TLS client cannot talk to a
    /// plain node or the other way round, and says so.</summary>
    public KvTierTlsOptions? Tls { get; init; }

    /// <summary>With <see cref="Tls"/> set, use RDMA anyway with nodes that offer it (nodes with TLS offer it only with
    /// <c>Rdma:AllowWithTls</c>): block bytes then cross the RDMA fabric unencrypted, while the queue-pair exchange,
    /// leases and reservations stay on TLS. Off (default): a TLS client keeps to the TLS data plane, and
    /// <see cref="DataPlaneTransportMode.RequireRdma"/> with TLS is refused at construction.</summary>
    public bool AllowRdmaWithTls { get; init; }

    /// <summary>Bearer token sent when each data-plane connection opens (null: none, for nodes without
    /// authentication). A refused token, a TLS failure, or a namespace the token may not use is a configuration
    /// error: the operation throws (<see cref="System.Security.Authentication.AuthenticationException"/> or
    /// <see cref="UnauthorizedAccessException"/>) instead of reporting a cache miss.</summary>
    public string? Token { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(LeaseDuration, nameof(LeaseDuration));
        Positive(ReservationTimeout, nameof(ReservationTimeout));
        if (ReplicationFactor is < 1 or > 16)
        {
            throw new ArgumentException($"ReplicationFactor {ReplicationFactor} is outside [1, 16].", nameof(ReplicationFactor));
        }

        if (ConnectionsPerNode is < 1 or > 64)
        {
            throw new ArgumentException($"ConnectionsPerNode {ConnectionsPerNode} is outside [1, 64].", nameof(ConnectionsPerNode));
        }

        if (!Enum.IsDefined(Transport))
        {
            throw new ArgumentException($"Transport {Transport} is not a DataPlaneTransportMode.", nameof(Transport));
        }

        if (RdmaStagingBytes < 1 << 20)
        {
            throw new ArgumentException($"RdmaStagingBytes {RdmaStagingBytes} is below 1 MiB.", nameof(RdmaStagingBytes));
        }

        if (MaxBlocksPerRequest < 1 || MaxBlocksPerRequest > Limits.MaxBlocksPerRequest)
        {
            throw new ArgumentException(
                $"MaxBlocksPerRequest {MaxBlocksPerRequest} is outside [1, {Limits.MaxBlocksPerRequest}].", nameof(MaxBlocksPerRequest));
        }
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero || value > TimeSpan.FromMinutes(10))
        {
            throw new ArgumentException($"{name} {value} is outside (0, 10 min].", name);
        }
    }
}
