using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace KvTier.Transport.Tcp;

/// <summary>
/// The data plane's TCP listener: accepts connections and runs each one's read-handle-respond loop. A peer that
/// breaks the protocol (bad magic, oversized length, truncated frame) has its connection closed; other
/// connections keep being served.
/// </summary>
public sealed class FrameServer : IAsyncDisposable
{
    private readonly Socket listener;
    private readonly IFrameHandler handler;
    private readonly FrameLimits limits;
    private readonly ILogger logger;
    private readonly int maxConnections;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<Task> connectionTasks = [];
    private readonly Lock connectionsLock = new();
    private Task? acceptLoop;
    private int openConnections;
    private long protocolViolations;

    /// <summary>Binds to <paramref name="endpoint"/> (port 0 picks a free port; see <see cref="LocalEndPoint"/>).</summary>
    public FrameServer(IPEndPoint endpoint, IFrameHandler handler, FrameLimits limits, ILogger logger, int maxConnections = 1024)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        this.handler = handler ?? throw new ArgumentNullException(nameof(handler));
        this.limits = limits ?? throw new ArgumentNullException(nameof(limits));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
        this.maxConnections = maxConnections > 0 ? maxConnections
            : throw new ArgumentOutOfRangeException(nameof(maxConnections), maxConnections, "Must be positive.");
        listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(endpoint);
        listener.Listen(512);
        LocalEndPoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>Where the server listens.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Connections open now.</summary>
    public int OpenConnections => Volatile.Read(ref openConnections);

    /// <summary>Connections closed because the peer broke the protocol.</summary>
    public long ProtocolViolations => Interlocked.Read(ref protocolViolations);

    /// <summary>Starts accepting.</summary>
    public void Start() => acceptLoop ??= Task.Run(AcceptLoopAsync);

    /// <summary>Stops accepting, closes every connection and waits for their loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        listener.Dispose();
        if (acceptLoop is not null)
        {
            await acceptLoop;
        }

        Task[] pending;
        lock (connectionsLock)
        {
            pending = [.. connectionTasks];
        }

        await Task.WhenAll(pending);
        stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stopping.Token);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (!stopping.IsCancellationRequested)
                {
                    logger.LogWarning(error, "Data-plane accept failed");
                }

                break;
            }

            if (Interlocked.Increment(ref openConnections) > maxConnections)
            {
                Interlocked.Decrement(ref openConnections);
                logger.LogWarning("Refusing data-plane connection from {Peer}: {Max} connections open", socket.RemoteEndPoint, maxConnections);
                socket.Dispose();
                continue;
            }

            socket.NoDelay = true;
            var task = Task.Run(() => ServeConnectionAsync(socket));
            lock (connectionsLock)
            {
                connectionTasks.RemoveAll(t => t.IsCompleted);
                connectionTasks.Add(task);
            }
        }
    }

    private async Task ServeConnectionAsync(Socket socket)
    {
        var peer = socket.RemoteEndPoint;
        var header = new byte[FrameHeader.Size];
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var responder = new FrameResponder(stream);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                if (!await ReadHeaderAsync(stream, header, stopping.Token))
                {
                    break; // clean close between frames
                }

                var frame = FrameHeader.Read(header, limits);
                if ((frame.Flags & FrameFlags.Response) != 0)
                {
                    throw new ProtocolViolationException($"Peer sent a response frame (request id {frame.RequestId}) to a server.");
                }

                var body = ArrayPool<byte>.Shared.Rent(frame.BodyLength);
                try
                {
                    await stream.ReadExactlyAsync(body.AsMemory(0, frame.BodyLength), stopping.Token);
                    responder.Begin(frame);
                    await HandleOneAsync(new FrameRequest(frame, body.AsMemory(0, frame.BodyLength)), responder);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(body);
                }
            }
        }
        catch (ProtocolViolationException error)
        {
            Interlocked.Increment(ref protocolViolations);
            logger.LogWarning("Closing data-plane connection from {Peer}: {Reason}", peer, error.Message);
        }
        catch (Exception error) when (error is IOException or SocketException or OperationCanceledException or EndOfStreamException)
        {
            if (!stopping.IsCancellationRequested)
            {
                logger.LogDebug("Data-plane connection from {Peer} ended: {Reason}", peer, error.Message);
            }
        }
        finally
        {
            Interlocked.Decrement(ref openConnections);
        }
    }

    private async Task HandleOneAsync(FrameRequest request, FrameResponder responder)
    {
        FrameStatus failure;
        try
        {
            await handler.HandleAsync(request, responder, stopping.Token);
            if (responder.HasResponded)
            {
                return;
            }

            logger.LogError("Handler left {Opcode} request {RequestId} unanswered", request.Header.Opcode, request.Header.RequestId);
            failure = FrameStatus.InternalError;
        }
        catch (ProtocolViolationException error)
        {
            // A well-framed request with a bad body: answer it and keep the connection.
            logger.LogInformation("Bad {Opcode} request: {Reason}", request.Header.Opcode, error.Message);
            failure = FrameStatus.BadRequest;
        }
        catch (Exception error) when (error is not OperationCanceledException and not IOException and not SocketException)
        {
            logger.LogError(error, "Handler failed on {Opcode} request {RequestId}", request.Header.Opcode, request.Header.RequestId);
            failure = FrameStatus.InternalError;
        }

        if (!responder.HasResponded)
        {
            await responder.SendAsync(failure, ReadOnlyMemory<byte>.Empty, stopping.Token);
        }
    }

    /// <summary>Reads a whole header; false when the peer closed cleanly before sending any of it.</summary>
    private static async ValueTask<bool> ReadHeaderAsync(Stream stream, byte[] header, CancellationToken cancellationToken)
    {
        var read = await stream.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, cancellationToken);
        return read == header.Length ? true
            : read == 0 ? false
            : throw new ProtocolViolationException($"Connection closed inside a frame header ({read} of {FrameHeader.Size} bytes).");
    }
}
