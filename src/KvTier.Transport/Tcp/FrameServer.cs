using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace KvTier.Transport.Tcp;

/// <summary>
/// The data plane's TCP listener: accepts connections and runs each one's read-handle-respond loop. A peer that
/// breaks the protocol (bad magic, oversized length, truncated frame) has its connection closed; other
/// connections keep being served. Optionally every connection is wrapped in TLS and must authenticate with its first
/// frame (<see cref="FrameServerOptions"/>); a failed handshake or a refused token closes that connection only.
/// </summary>
public sealed class FrameServer : IAsyncDisposable
{
    private static readonly byte[] TlsRequiredReason = "this node's data plane requires TLS: connect with TLS enabled"u8.ToArray();
    private static readonly byte[] NotAuthenticatedReason = "this node requires authentication: the first frame must be Authenticate with a bearer token"u8.ToArray();
    private static readonly byte[] BadTokenReason = "the bearer token is not valid on this node"u8.ToArray();
    private static readonly byte[] AlreadyAuthenticatedReason = "the connection is already authenticated"u8.ToArray();

    private readonly Socket listener;
    private readonly IFrameHandler handler;
    private readonly FrameServerOptions options;
    private readonly FrameLimits limits;
    // The Authenticate answer names the newest protocol version the node speaks (version 2 nodes answer with an empty
    // body), so a client picks the verbs the node knows, then this run's id (version 4).
    private readonly byte[] authenticateAnswer;
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopping = new();
    private readonly List<Task> connectionTasks = [];
    private readonly Lock connectionsLock = new();
    private Task? acceptLoop;
    private int openConnections;
    private long protocolViolations;
    private long tlsFailures;
    private long authenticationFailures;

    /// <summary>Binds to <paramref name="endpoint"/> (port 0 picks a free port; see <see cref="LocalEndPoint"/>).</summary>
    public FrameServer(IPEndPoint endpoint, IFrameHandler handler, FrameLimits limits, ILogger logger, int maxConnections = 1024)
        : this(endpoint, handler, new FrameServerOptions { Limits = limits ?? throw new ArgumentNullException(nameof(limits)), MaxConnections = maxConnections }, logger)
    {
    }

    /// <summary>Binds to <paramref name="endpoint"/> with TLS, authentication and an observer as configured.</summary>
    public FrameServer(IPEndPoint endpoint, IFrameHandler handler, FrameServerOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        this.handler = handler ?? throw new ArgumentNullException(nameof(handler));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        limits = options.Limits ?? throw new ArgumentException("Limits must be set.", nameof(options));
        authenticateAnswer = new byte[17];
        authenticateAnswer[0] = FrameHeader.Version;
        options.Instance.TryWriteBytes(authenticateAnswer.AsSpan(1));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
        if (options.MaxConnections <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxConnections, "MaxConnections must be positive.");
        }

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

    /// <summary>Connections closed because their TLS handshake failed (or a plain-text peer reached a TLS server).</summary>
    public long TlsFailures => Interlocked.Read(ref tlsFailures);

    /// <summary>Connections closed because they did not authenticate, or presented a token the node refused.</summary>
    public long AuthenticationFailures => Interlocked.Read(ref authenticationFailures);

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

            if (Interlocked.Increment(ref openConnections) > options.MaxConnections)
            {
                Interlocked.Decrement(ref openConnections);
                logger.LogWarning("Refusing data-plane connection from {Peer}: {Max} connections open", socket.RemoteEndPoint, options.MaxConnections);
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
        var context = new FrameConnectionContext(socket.RemoteEndPoint);
        var header = new byte[FrameHeader.Size];
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            if (options.Tls is not null)
            {
                var secured = await SecureAsync(socket, stream, context, header);
                if (secured is null)
                {
                    return;
                }

                stream = secured;
            }

            await ServeFramesAsync(stream, context, header);
        }
        catch (ProtocolViolationException error)
        {
            Interlocked.Increment(ref protocolViolations);
            logger.LogWarning("Closing data-plane connection from {Peer}: {Reason}", context.RemoteEndPoint, error.Message);
        }
        catch (Exception error) when (error is IOException or SocketException or OperationCanceledException or EndOfStreamException)
        {
            if (!stopping.IsCancellationRequested)
            {
                logger.LogDebug("Data-plane connection from {Peer} ended: {Reason}", context.RemoteEndPoint, error.Message);
            }
        }
        finally
        {
            if (context.TlsProtocol != SslProtocols.None && context.FramesReceived == 0 && !stopping.IsCancellationRequested)
            {
                // With TLS 1.3 a client checks the node's certificate after the handshake completed on this side, so a
                // client that refuses the certificate shows here only as a close before its first frame.
                logger.LogInformation("TLS connection from {Peer} closed before its first frame: the client may have refused the node certificate",
                    context.RemoteEndPoint);
            }

            await stream.DisposeAsync();
            Interlocked.Decrement(ref openConnections);
        }
    }

    private async Task ServeFramesAsync(Stream stream, FrameConnectionContext context, byte[] header)
    {
        var responder = new FrameResponder(stream);
        var authenticator = options.Authenticator;
        var observer = options.Observer;
        var streamed = handler as IStreamedFrameHandler;
        using var streamedBody = streamed is null ? null : new StreamedBody(stream);
        while (!stopping.IsCancellationRequested)
        {
            if (!await ReadHeaderAsync(stream, header, stopping.Token))
            {
                return; // clean close between frames
            }

            var started = Stopwatch.GetTimestamp();
            context.FramesReceived++;
            var frame = FrameHeader.Read(header, limits);
            if ((frame.Flags & FrameFlags.Response) != 0)
            {
                throw new ProtocolViolationException($"Peer sent a response frame (request id {frame.RequestId}) to a server.");
            }

            var keepOpen = true;
            if (streamedBody is not null && frame.Opcode != Opcode.Authenticate && (authenticator is null || context.IsAuthenticated)
                && streamed!.StreamsBody(frame.Opcode))
            {
                responder.Begin(frame);
                streamedBody.Begin(frame.BodyLength);
                await HandleStreamedAsync(streamed, frame, context, streamedBody, responder);
                observer?.RequestAnswered(frame.Opcode, responder.Status, FrameHeader.Size + frame.BodyLength,
                    FrameHeader.Size + responder.BodyBytes, started);
                continue;
            }

            var body = ArrayPool<byte>.Shared.Rent(frame.BodyLength);
            try
            {
                await stream.ReadExactlyAsync(body.AsMemory(0, frame.BodyLength), stopping.Token);
                responder.Begin(frame);
                if (frame.Opcode == Opcode.Authenticate)
                {
                    keepOpen = await AuthenticateAsync(context, body.AsMemory(0, frame.BodyLength), responder);
                }
                else if (authenticator is not null && !context.IsAuthenticated)
                {
                    Interlocked.Increment(ref authenticationFailures);
                    logger.LogWarning("Closing data-plane connection from {Peer}: {Opcode} before authenticating", context.RemoteEndPoint, frame.Opcode);
                    await responder.SendAsync(FrameStatus.Unauthorized, NotAuthenticatedReason, stopping.Token);
                    keepOpen = false;
                }
                else
                {
                    await HandleOneAsync(new FrameRequest(frame, body.AsMemory(0, frame.BodyLength)) { Connection = context }, responder);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(body);
            }

            observer?.RequestAnswered(frame.Opcode, responder.Status, FrameHeader.Size + frame.BodyLength,
                FrameHeader.Size + responder.BodyBytes, started);
            if (!keepOpen)
            {
                return;
            }
        }
    }

    /// <summary>Answers an Authenticate frame; false when the connection must close.</summary>
    private async ValueTask<bool> AuthenticateAsync(FrameConnectionContext context, ReadOnlyMemory<byte> token, FrameResponder responder)
    {
        if (context.IsAuthenticated)
        {
            await responder.SendAsync(FrameStatus.BadRequest, AlreadyAuthenticatedReason, stopping.Token);
            return true;
        }

        if (options.Authenticator is { } authenticator)
        {
            var principal = token.IsEmpty ? null : authenticator.Authenticate(token.Span);
            if (principal is null)
            {
                Interlocked.Increment(ref authenticationFailures);
                logger.LogWarning("Refused data-plane connection from {Peer}: {Reason}", context.RemoteEndPoint,
                    token.IsEmpty ? "no bearer token" : "unknown bearer token");
                await responder.SendAsync(FrameStatus.Unauthorized, token.IsEmpty ? NotAuthenticatedReason : BadTokenReason, stopping.Token);
                return false;
            }

            context.Principal = principal;
        }

        context.IsAuthenticated = true;
        await responder.SendAsync(FrameStatus.Ok, authenticateAnswer, stopping.Token);
        return true;
    }

    /// <summary>Runs the TLS handshake; null (connection to close) when it fails or the peer speaks plain text.</summary>
    private async Task<Stream?> SecureAsync(Socket socket, Stream plain, FrameConnectionContext context, byte[] header)
    {
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
        handshake.CancelAfter(options.HandshakeTimeout);
        try
        {
            // A TLS ClientHello starts with 0x16; a KvTier frame with the magic's low byte. Tell a plain-text client
            // why it is refused instead of letting it read an unexplained close.
            if (await socket.ReceiveAsync(header.AsMemory(0, 1), SocketFlags.Peek, handshake.Token) == 1
                && header[0] == (byte)(FrameHeader.Magic & 0xff))
            {
                await RefusePlainTextAsync(plain, context, header, handshake.Token);
                return null;
            }

            var tls = new SslStream(plain, leaveInnerStreamOpen: false);
            try
            {
                await tls.AuthenticateAsServerAsync(options.Tls!, handshake.Token);
            }
            catch
            {
                await tls.DisposeAsync();
                throw;
            }

            context.TlsProtocol = tls.SslProtocol;
            return tls;
        }
        catch (Exception error) when (error is AuthenticationException or IOException or SocketException or OperationCanceledException
                                      or ProtocolViolationException or EndOfStreamException)
        {
            if (!stopping.IsCancellationRequested)
            {
                Interlocked.Increment(ref tlsFailures);
                var reason = error is OperationCanceledException ? $"no handshake within {options.HandshakeTimeout}" : Describe(error);
                logger.LogWarning("TLS handshake with data-plane peer {Peer} failed: {Reason}", context.RemoteEndPoint, reason);
            }

            return null;
        }
    }

    private async Task RefusePlainTextAsync(Stream plain, FrameConnectionContext context, byte[] header, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref tlsFailures);
        logger.LogWarning("Refusing plain-text data-plane connection from {Peer}: this node requires TLS", context.RemoteEndPoint);
        await plain.ReadExactlyAsync(header, cancellationToken);
        var frame = FrameHeader.Read(header, limits);
        if (frame.BodyLength <= 64 << 10)
        {
            // Consume the body so the close after the answer is a FIN, not a reset that could drop the answer.
            var body = ArrayPool<byte>.Shared.Rent(frame.BodyLength);
            try
            {
                await plain.ReadExactlyAsync(body.AsMemory(0, frame.BodyLength), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(body);
            }
        }

        var responder = new FrameResponder(plain);
        responder.Begin(frame);
        await responder.SendAsync(FrameStatus.Unauthorized, TlsRequiredReason, cancellationToken);
    }

    private static string Describe(Exception error) =>
        error.InnerException is { } inner ? $"{error.Message} ({inner.Message})" : error.Message;

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

    /// <summary>Runs a streamed-body handler and then discards what it left of the body. A bad body is answered
    /// (after the discard, so the answer follows the whole request) and the connection keeps serving; a broken stream
    /// ends the connection.</summary>
    private async Task HandleStreamedAsync(IStreamedFrameHandler streamed, FrameHeader frame, FrameConnectionContext context, StreamedBody body,
        FrameResponder responder)
    {
        FrameStatus failure;
        try
        {
            await streamed.HandleStreamedAsync(frame, context, body, responder, stopping.Token);
            await body.FinishAsync(stopping.Token);
            if (responder.HasResponded)
            {
                return;
            }

            logger.LogError("Handler left {Opcode} request {RequestId} unanswered", frame.Opcode, frame.RequestId);
            failure = FrameStatus.InternalError;
        }
        catch (ProtocolViolationException error)
        {
            logger.LogInformation("Bad {Opcode} request: {Reason}", frame.Opcode, error.Message);
            failure = FrameStatus.BadRequest;
        }
        catch (Exception error) when (error is not OperationCanceledException and not IOException and not SocketException)
        {
            logger.LogError(error, "Handler failed on {Opcode} request {RequestId}", frame.Opcode, frame.RequestId);
            failure = FrameStatus.InternalError;
        }

        await body.FinishAsync(stopping.Token);
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
