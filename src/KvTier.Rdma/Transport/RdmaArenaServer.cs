namespace KvTier.Rdma;

/// <summary>Settings of a node's <see cref="RdmaArenaServer"/>.</summary>
public sealed record RdmaArenaServerOptions
{
    /// <summary>Queue pairs (clients) served at once; a further connection is refused with a clear error.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>RC connection tuning for the node's side (MTU, timeouts, traffic class).</summary>
    public RdmaConnectOptions Connect { get; init; }
}

/// <summary>
/// The node side of the RDMA transport: the arena is registered with the NIC once (remote read and write), and each
/// client connection gets its own RC queue pair, connected to the client's endpoint and answered with the node's
/// endpoint and the arena's address and rkey. The node never posts on these queue pairs: clients READ leased extents
/// and WRITE reserved extents one-sidedly, so the node's CPU is not on the data path. Thread-safe.
/// </summary>
public sealed class RdmaArenaServer : IDisposable
{
    // Node queue pairs only respond; the send queue and completion queue exist because verbs require them.
    private const uint ResponderSendDepth = 1;
    private const uint CompletionEntries = 64;

    private readonly RdmaContext context;
    private readonly RdmaCompletionQueue completionQueue;
    private readonly Dictionary<(uint QueuePair, UInt128 Gid), RdmaQueuePair> connections = [];
    private readonly Lock gate = new();
    private bool disposed;

    /// <summary>Registers [<paramref name="arenaAddress"/>, + <paramref name="arenaLength"/>) for remote reads and
    /// writes. The memory must stay mapped until the server is disposed.</summary>
    /// <exception cref="RdmaException">Registration failed (memlock limit? see docs/rdma.md).</exception>
    public RdmaArenaServer(RdmaContext context, nint arenaAddress, ulong arenaLength, RdmaArenaServerOptions? options = null)
    {
        this.context = context ?? throw new ArgumentNullException(nameof(context));
        Options = options ?? new RdmaArenaServerOptions();
        if (Options.MaxConnections <= 0)
        {
            throw new ArgumentException($"MaxConnections must be positive, not {Options.MaxConnections}.", nameof(options));
        }

        Arena = context.RegisterMemory(arenaAddress, arenaLength,
            RdmaAccess.LocalWrite | RdmaAccess.RemoteRead | RdmaAccess.RemoteWrite);
        try
        {
            completionQueue = context.CreateCompletionQueue(CompletionEntries);
        }
        catch
        {
            Arena.Dispose();
            throw;
        }
    }

    /// <summary>The server's settings.</summary>
    public RdmaArenaServerOptions Options { get; }

    /// <summary>The registered arena.</summary>
    public RdmaMemoryRegion Arena { get; }

    /// <summary>Client queue pairs currently connected.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (gate)
            {
                return connections.Count;
            }
        }
    }

    /// <summary>Creates a queue pair for the client at <paramref name="client"/>, connects it, and answers with its
    /// endpoint and the arena. A client that reconnects (same queue pair and GID, after an error) gets a fresh queue
    /// pair; the old one is destroyed.</summary>
    /// <exception cref="RdmaException">The device refused, or <see cref="RdmaArenaServerOptions.MaxConnections"/>
    /// clients are already connected.</exception>
    public RdmaRemoteArena Accept(in RdmaEndpoint client)
    {
        var key = (client.QueuePairNumber, Gid(client));
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (connections.Remove(key, out var previous))
            {
                previous.Dispose();
            }
            else if (connections.Count >= Options.MaxConnections)
            {
                throw new RdmaException(
                    $"The node already serves {connections.Count} RDMA connections (MaxConnections); use the TCP data plane.");
            }

            var queuePair = context.CreateQueuePair(completionQueue, ResponderSendDepth);
            try
            {
                queuePair.Connect(client, Options.Connect);
            }
            catch
            {
                queuePair.Dispose();
                throw;
            }

            connections[key] = queuePair;
            return new RdmaRemoteArena(queuePair.LocalEndpoint, Arena.Address, Arena.Length, Arena.RemoteKey);
        }
    }

    /// <summary>Destroys the queue pair serving the client at <paramref name="client"/>; false when there is none.</summary>
    public bool Disconnect(in RdmaEndpoint client)
    {
        lock (gate)
        {
            if (!connections.Remove((client.QueuePairNumber, Gid(client)), out var queuePair))
            {
                return false;
            }

            queuePair.Dispose();
            return true;
        }
    }

    /// <summary>Destroys every client's queue pair (the arena stays registered): clients' next transfers fail and they
    /// reconnect through the control plane. Returns how many were connected.</summary>
    public int DisconnectAll()
    {
        lock (gate)
        {
            var count = connections.Count;
            foreach (var queuePair in connections.Values)
            {
                queuePair.Dispose();
            }

            connections.Clear();
            return count;
        }
    }

    /// <summary>Destroys every queue pair, then deregisters the arena.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
            foreach (var queuePair in connections.Values)
            {
                queuePair.Dispose();
            }

            connections.Clear();
        }

        completionQueue.Dispose();
        Arena.Dispose();
    }

    private static UInt128 Gid(in RdmaEndpoint endpoint) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(endpoint.Gid);
}
