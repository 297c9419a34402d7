using System.Net;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>A few pipelined connections to one node, opened on first use and replaced when they break.</summary>
internal sealed class NodeConnectionPool : IAsyncDisposable
{
    private readonly EndPoint endpoint;
    private readonly FrameConnectionOptions options;
    private readonly TimeSpan connectTimeout;
    private readonly FrameConnection?[] slots;
    private readonly SemaphoreSlim[] slotLocks;
    private int next;

    public NodeConnectionPool(EndPoint endpoint, int size, FrameConnectionOptions options, TimeSpan connectTimeout)
    {
        this.endpoint = endpoint;
        this.options = options;
        this.connectTimeout = connectTimeout;
        slots = new FrameConnection?[size];
        slotLocks = new SemaphoreSlim[size];
        for (var i = 0; i < size; i++)
        {
            slotLocks[i] = new SemaphoreSlim(1, 1);
        }
    }

    public EndPoint EndPoint => endpoint;

    /// <summary>Slots with nothing in flight (including slots not connected yet), at least one.</summary>
    public int IdleConnections
    {
        get
        {
            var idle = 0;
            for (var i = 0; i < slots.Length; i++)
            {
                if (Volatile.Read(ref slots[i]) is not { IsHealthy: true, InFlight: > 0 })
                {
                    idle++;
                }
            }

            return Math.Max(1, idle);
        }
    }

    /// <summary>A healthy connection: the round robin's next slot, or an idle one when that slot is busy (a request
    /// pipelined behind another waits for its whole answer).</summary>
    /// <exception cref="IOException">The node cannot be reached.</exception>
    /// <exception cref="System.Security.Authentication.AuthenticationException">TLS failed or the node refused the
    /// token (a configuration error, not a node failure: callers let it propagate).</exception>
    public async ValueTask<FrameConnection> GetAsync(CancellationToken cancellationToken)
    {
        var start = (uint)Interlocked.Increment(ref next);
        var slot = (int)(start % (uint)slots.Length);
        var connection = Volatile.Read(ref slots[slot]);
        if (connection is { IsHealthy: true, InFlight: > 0 })
        {
            // Busy: a request queued behind another waits for it; take an idle connection if there is one.
            for (var i = 1; i < slots.Length; i++)
            {
                var other = Volatile.Read(ref slots[(int)((start + (uint)i) % (uint)slots.Length)]);
                if (other is { IsHealthy: true, InFlight: 0 })
                {
                    return other;
                }
            }
        }

        if (connection is { IsHealthy: true })
        {
            return connection;
        }

        await slotLocks[slot].WaitAsync(cancellationToken);
        try
        {
            connection = slots[slot];
            if (connection is { IsHealthy: true })
            {
                return connection;
            }

            if (connection is not null)
            {
                await connection.DisposeAsync();
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(connectTimeout);
            try
            {
                connection = await FrameConnection.ConnectAsync(endpoint, options, timeout.Token);
            }
            catch (Exception error) when (error is System.Net.Sockets.SocketException
                || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                slots[slot] = null;
                throw new IOException($"Cannot connect to node data plane {endpoint}: {error.Message}", error);
            }

            Volatile.Write(ref slots[slot], connection);
            return connection;
        }
        finally
        {
            slotLocks[slot].Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i] is { } connection)
            {
                slots[i] = null;
                await connection.DisposeAsync();
            }

            slotLocks[i].Dispose();
        }
    }

    /// <summary>Parses "host:port" (IPv4, [IPv6] or a DNS name).</summary>
    public static EndPoint ParseAddress(string address)
    {
        if (IPEndPoint.TryParse(address, out var ip) && ip.Port != 0)
        {
            return ip;
        }

        var colon = address.LastIndexOf(':');
        if (colon > 0 && int.TryParse(address.AsSpan(colon + 1), out var port) && port is > 0 and <= 65535)
        {
            return new DnsEndPoint(address[..colon], port);
        }

        throw new FormatException($"Node data-plane address '{address}' is not host:port.");
    }
}
