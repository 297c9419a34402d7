namespace KvTier.Rdma;

/// <summary>What a node answers to a client's queue-pair exchange (the control plane's ConnectRdma): the node's
/// queue pair to connect to, and where its registered arena is and the key that opens it.</summary>
/// <param name="Endpoint">The node's queue pair, created for this client.</param>
/// <param name="Address">The arena's first address in the node's address space (extent offsets are relative to it).</param>
/// <param name="Length">The arena's length in bytes.</param>
/// <param name="RemoteKey">The arena region's rkey.</param>
public readonly record struct RdmaRemoteArena(RdmaEndpoint Endpoint, ulong Address, ulong Length, uint RemoteKey);

/// <summary>Exchanges the client's queue-pair endpoint for the node's (in production the gRPC ConnectRdma call;
/// in tests a direct call to an in-process <see cref="RdmaArenaServer"/>).</summary>
/// <param name="local">The client queue pair's endpoint.</param>
/// <param name="cancellationToken">Cancels the exchange.</param>
public delegate ValueTask<RdmaRemoteArena> RdmaConnector(RdmaEndpoint local, CancellationToken cancellationToken);
