using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Authentication;
using System.Text;

namespace KvTier.Transport.Tcp;

/// <summary>
/// One client connection to a node's data plane. Requests are pipelined: many can be in flight, matched to their
/// responses by request id, and each response body goes straight into the sink its request named. If the
/// connection fails, every request in flight fails with an <see cref="IOException"/>; the connection is then dead
/// and the caller's pool opens a new one.
/// </summary>
public sealed class FrameConnection : IAsyncDisposable
{
    private readonly Socket socket;
    private readonly Stream stream;
    private readonly FrameLimits limits;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly ConcurrentDictionary<ulong, PendingRequest> pending = new();
    private readonly CancellationTokenSource closing = new();
    // The header and a small body (or a small first segment) leave in one write: one send, one TCP segment.
    private readonly byte[] sendBuffer = new byte[4096];
    // The parts of a frame sent with one gathered send; used under the write lock only.
    private readonly List<ArraySegment<byte>> gathered = [];
    private readonly Task receiveLoop;
    private long nextRequestId;
    private int inFlight;
    private Exception? failure;

    private FrameConnection(Socket socket, Stream stream, FrameLimits limits)
    {
        this.socket = socket;
        this.stream = stream;
        this.limits = limits;
        RemoteEndPoint = socket.RemoteEndPoint;
        receiveLoop = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>The node's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>False once the connection failed or was closed.</summary>
    public bool IsHealthy => failure is null && !closing.IsCancellationRequested;

    /// <summary>The newest protocol version the node speaks, as its answer to <see cref="Opcode.Authenticate"/> said
    /// (a version-2 node's answer names none). A connection opened without authenticating assumes version 2.</summary>
    public byte PeerVersion { get; private set; } = 2;

    /// <summary>The node run this connection reaches, as its answer to <see cref="Opcode.Authenticate"/> said (version 4
    /// on); null for older nodes and connections opened without authenticating.</summary>
    public Guid? PeerInstance { get; private set; }

    /// <summary>Whether the node understands <paramref name="opcode"/> (it speaks the version that introduced it).</summary>
    public bool Supports(Opcode opcode) => PeerVersion >= OpcodeVersions.IntroducedIn(opcode);

    /// <summary>Requests sent whose answer has not been received in full yet.</summary>
    public int InFlight => Volatile.Read(ref inFlight);

    /// <summary>Connects to a node's data plane in plain text, without an Authenticate frame (a node that requires
    /// authentication refuses the first request).</summary>
    public static async Task<FrameConnection> ConnectAsync(EndPoint endpoint, FrameLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var socket = await ConnectSocketAsync(endpoint, cancellationToken);
        return new FrameConnection(socket, new NetworkStream(socket, ownsSocket: true), limits);
    }

    /// <summary>Connects to a node's data plane, with TLS when <see cref="FrameConnectionOptions.Tls"/> is set, and
    /// authenticates with an <see cref="Opcode.Authenticate"/> frame before returning, so a refused connection fails
    /// here with its reason rather than on a later request.</summary>
    /// <exception cref="AuthenticationException">The TLS handshake failed (untrusted or expired certificate, name
    /// mismatch, a client certificate refused or missing, a node without TLS), or the node refused the connection
    /// (no or unknown token, TLS required). The message says which and why.</exception>
    /// <exception cref="SocketException">The node cannot be reached.</exception>
    public static async Task<FrameConnection> ConnectAsync(EndPoint endpoint, FrameConnectionOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var socket = await ConnectSocketAsync(endpoint, cancellationToken);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (options.Tls is { } tls)
        {
            var secured = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                await secured.AuthenticateAsClientAsync(ForEndpoint(tls, endpoint), cancellationToken);
            }
            catch (Exception error) when (error is AuthenticationException or IOException)
            {
                await secured.DisposeAsync();
                throw new AuthenticationException(error is AuthenticationException
                    ? $"TLS handshake with node {endpoint} failed: {Describe(error)}"
                    : $"TLS handshake with node {endpoint} failed: the node closed the connection ({error.Message}); is TLS enabled on it?", error);
            }

            stream = secured;
        }

        var connection = new FrameConnection(socket, stream, options.Limits);
        try
        {
            await connection.AuthenticateAsync(options.Token, options.Tls is not null, cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends a request whose body is the concatenation of <paramref name="body"/>'s segments and waits for
    /// its response, which <paramref name="sink"/> consumes. Returns the response header.</summary>
    /// <exception cref="IOException">The connection failed before the response arrived.</exception>
    /// <exception cref="ProtocolViolationException">The node answered with a malformed frame.</exception>
    public async ValueTask<FrameHeader> SendAsync(Opcode opcode, ReadOnlySequence<byte> body, IResponseSink sink,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (body.Length > limits.MaxBodyBytes)
        {
            throw new ArgumentException($"Request body of {body.Length} bytes is over the {limits.MaxBodyBytes}-byte limit.", nameof(body));
        }

        Interlocked.Increment(ref inFlight);
        try
        {
            return await SendAndReceiveAsync(opcode, body, sink, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref inFlight);
        }
    }

    private async ValueTask<FrameHeader> SendAndReceiveAsync(Opcode opcode, ReadOnlySequence<byte> body, IResponseSink sink,
        CancellationToken cancellationToken)
    {
        ThrowIfFailed();
        var requestId = (ulong)Interlocked.Increment(ref nextRequestId);
        var request = new PendingRequest(opcode, sink);
        pending[requestId] = request;
        try
        {
            await writeLock.WaitAsync(cancellationToken);
            try
            {
                ThrowIfFailed();
                new FrameHeader(opcode, FrameFlags.None, FrameStatus.Ok, requestId, (int)body.Length).WriteTo(sendBuffer);
                var head = FrameHeader.Size;
                var rest = body;
                if (!body.IsEmpty && body.First.Length <= sendBuffer.Length - head)
                {
                    body.First.Span.CopyTo(sendBuffer.AsSpan(head));
                    head += body.First.Length;
                    rest = body.Slice(body.First.Length);
                }

                if (stream is NetworkStream && !rest.IsSingleSegment && TryGather(sendBuffer.AsMemory(0, head), rest))
                {
                    // One sendmsg for the whole frame instead of one send per segment (a store is a header and a payload
                    // per chunk). TLS has no gathered write: its records are written one segment at a time below.
                    try
                    {
                        var sent = await socket.SendAsync(gathered, SocketFlags.None);
                        if (sent != head + rest.Length)
                        {
                            throw new IOException($"Sent {sent} of the {head + rest.Length} bytes of a {opcode} frame to {RemoteEndPoint}.");
                        }
                    }
                    finally
                    {
                        gathered.Clear();
                    }
                }
                else
                {
                    await stream.WriteAsync(sendBuffer.AsMemory(0, head), closing.Token);
                    foreach (var segment in rest)
                    {
                        // An empty write is not free: on a connection the node already closed it fails with EPIPE.
                        if (!segment.IsEmpty)
                        {
                            await stream.WriteAsync(segment, closing.Token);
                        }
                    }
                }
            }
            finally
            {
                writeLock.Release();
            }
        }
        catch (Exception error) when ((error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                                      && !request.Completion.Task.IsCompletedSuccessfully)
        {
            // A half-written frame poisons the stream for every other request. (A request already answered keeps its
            // answer: a node that answers and then closes, as one refusing a connection does, can beat our write's
            // completion.)
            Fail(error as IOException ?? new IOException($"Sending to {RemoteEndPoint} failed: {error.Message}", error));
            throw failure!;
        }
        catch (OperationCanceledException)
        {
            pending.TryRemove(requestId, out _);
            throw;
        }

        return await WaitAsync(request, cancellationToken);
    }

    private static async ValueTask<FrameHeader> WaitAsync(PendingRequest request, CancellationToken cancellationToken)
    {
        using var registration = cancellationToken.Register(static state => ((PendingRequest)state!).Abandon(), request);
        return await request.Completion.Task;
    }

    /// <summary>Lists the frame's parts for one gathered send when every part lies in a managed array (the header
    /// buffer does); false, with nothing listed, when one does not (native memory goes through the stream).</summary>
    private bool TryGather(ReadOnlyMemory<byte> head, ReadOnlySequence<byte> rest)
    {
        gathered.Clear();
        gathered.Add(ToSegment(head));
        foreach (var segment in rest)
        {
            if (segment.IsEmpty)
            {
                continue;
            }

            if (!MemoryMarshal.TryGetArray(segment, out var array))
            {
                gathered.Clear();
                return false;
            }

            gathered.Add(array);
        }

        return true;
    }

    private static ArraySegment<byte> ToSegment(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var array) ? array : throw new InvalidOperationException("The send buffer is a managed array.");

    /// <summary>Sends a request with a single-segment body.</summary>
    public ValueTask<FrameHeader> SendAsync(Opcode opcode, ReadOnlyMemory<byte> body, IResponseSink sink, CancellationToken cancellationToken) =>
        SendAsync(opcode, new ReadOnlySequence<byte>(body), sink, cancellationToken);

    private static async Task<Socket> ConnectSocketAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The TLS settings with the endpoint's host as the expected server name where none was given.</summary>
    private static SslClientAuthenticationOptions ForEndpoint(SslClientAuthenticationOptions tls, EndPoint endpoint)
    {
        if (!string.IsNullOrEmpty(tls.TargetHost))
        {
            return tls;
        }

        return new SslClientAuthenticationOptions
        {
            TargetHost = endpoint switch
            {
                DnsEndPoint dns => dns.Host,
                IPEndPoint ip => ip.Address.ToString(),
                _ => endpoint.ToString(),
            },
            ClientCertificates = tls.ClientCertificates,
            ClientCertificateContext = tls.ClientCertificateContext,
            CertificateChainPolicy = tls.CertificateChainPolicy,
            RemoteCertificateValidationCallback = tls.RemoteCertificateValidationCallback,
            EnabledSslProtocols = tls.EnabledSslProtocols,
            CertificateRevocationCheckMode = tls.CertificateRevocationCheckMode,
            ApplicationProtocols = tls.ApplicationProtocols,
        };
    }

    private static string Describe(Exception error) =>
        error.InnerException is { } inner ? $"{error.Message} ({inner.Message})" : error.Message;

    private async Task AuthenticateAsync(string? token, bool secured, CancellationToken cancellationToken)
    {
        using var sink = new BufferedResponseSink();
        FrameHeader answer;
        try
        {
            answer = await SendAsync(Opcode.Authenticate, token is null ? ReadOnlyMemory<byte>.Empty : Encoding.UTF8.GetBytes(token), sink, cancellationToken);
        }
        catch (IOException error) when (secured)
        {
            // With TLS 1.3 the server checks the client certificate after the client finished its handshake, so a
            // refused or missing certificate shows as a close here.
            throw new AuthenticationException(
                $"TLS session with node {RemoteEndPoint} ended before it answered: the node refused this client (a client certificate may be required, or this one is not trusted): {error.Message}",
                error);
        }

        if (answer.Status != FrameStatus.Ok)
        {
            var reason = sink.Body.IsEmpty ? answer.Status.ToString() : Encoding.UTF8.GetString(sink.Body.Span);
            throw new AuthenticationException($"Node {RemoteEndPoint} refused the data-plane connection ({answer.Status}): {reason}.");
        }

        PeerVersion = sink.Body.IsEmpty ? (byte)2 : sink.Body.Span[0];
        if (sink.Body.Length >= 17)
        {
            PeerInstance = new Guid(sink.Body.Span[1..17]);
        }
    }

    /// <summary>Closes the connection; requests in flight fail.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!closing.IsCancellationRequested)
        {
            await closing.CancelAsync();
        }

        Fail(new IOException("The connection was closed."));
        await stream.DisposeAsync();
        await receiveLoop;
        writeLock.Dispose();
        closing.Dispose();
    }

    private async Task ReceiveLoopAsync()
    {
        var header = new byte[FrameHeader.Size];
        try
        {
            while (!closing.IsCancellationRequested)
            {
                await stream.ReadExactlyAsync(header, closing.Token);
                var frame = FrameHeader.Read(header, limits);
                if ((frame.Flags & FrameFlags.Response) == 0 || !pending.TryRemove(frame.RequestId, out var request))
                {
                    throw new ProtocolViolationException($"Unexpected frame for request id {frame.RequestId} from {RemoteEndPoint}.");
                }

                if (frame.Opcode != request.Opcode)
                {
                    throw new ProtocolViolationException($"Response opcode {frame.Opcode} does not match request opcode {request.Opcode}.");
                }

                if (request.IsAbandoned)
                {
                    await DiscardAsync(frame.BodyLength);
                    request.Completion.TrySetCanceled();
                    continue;
                }

                try
                {
                    await request.Sink.ReceiveAsync(frame, stream, closing.Token);
                    request.Completion.TrySetResult(frame);
                }
                catch (ProtocolViolationException error)
                {
                    request.Completion.TrySetException(error);
                    throw;
                }
            }
        }
        catch (Exception error)
        {
            Fail(error is ProtocolViolationException or IOException
                ? error
                : new IOException($"Connection to {RemoteEndPoint} failed: {error.Message}", error));
        }
    }

    private async ValueTask DiscardAsync(int length)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Min(length, 1 << 20));
        try
        {
            while (length > 0)
            {
                var chunk = Math.Min(length, scratch.Length);
                await stream.ReadExactlyAsync(scratch.AsMemory(0, chunk), closing.Token);
                length -= chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    private void Fail(Exception error)
    {
        Interlocked.CompareExchange(ref failure, error, null);
        foreach (var id in pending.Keys)
        {
            if (pending.TryRemove(id, out var request))
            {
                request.Completion.TrySetException(failure!);
            }
        }

        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception shutdownError) when (shutdownError is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
    }

    private void ThrowIfFailed()
    {
        if (failure is not null)
        {
            throw failure as IOException ?? new IOException($"Connection to {RemoteEndPoint} is broken: {failure.Message}", failure);
        }

        ObjectDisposedException.ThrowIf(closing.IsCancellationRequested, this);
    }

    private sealed class PendingRequest(Opcode opcode, IResponseSink sink)
    {
        private volatile bool abandoned;

        public Opcode Opcode { get; } = opcode;

        public IResponseSink Sink { get; } = sink;

        public TaskCompletionSource<FrameHeader> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsAbandoned => abandoned;

        public void Abandon()
        {
            // The request was sent, so its response will still arrive: the receive loop discards it.
            abandoned = true;
            Completion.TrySetCanceled();
        }
    }
}
