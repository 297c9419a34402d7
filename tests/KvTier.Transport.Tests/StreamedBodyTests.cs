using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Transport.Tests;

/// <summary>Handlers that take request bodies straight from the connection: the listener's limits, the discard of
/// what a handler leaves, bad bodies and broken connections, over plain TCP and TLS.</summary>
public sealed class StreamedBodyTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_streamed_body_is_received_into_the_handlers_memory_and_large_frames_are_gathered_intact(bool tls)
    {
        using var certificate = tls ? SelfSigned() : null;
        var handler = new SummingHandler();
        await using var server = Start(handler, certificate);
        await using var connection = await ConnectAsync(server, certificate);
        var head = new byte[] { 1, 2, 3, 4 };
        var payload = new byte[3 << 20];
        new Random(1).NextBytes(payload);

        var (header, body) = await SendAsync(connection, Opcode.PutBlocks,
            Sequence(head, payload.AsMemory(0, 100), payload.AsMemory(100, 1 << 20), payload.AsMemory(100 + (1 << 20))));

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal(head.Length + payload.Length, BinaryPrimitives.ReadInt32LittleEndian(body));
        Assert.Equal([.. head, .. payload], handler.LastBody);
        Assert.Equal(1, handler.Streamed);
    }

    [Fact]
    public async Task What_a_handler_leaves_unread_is_discarded_and_the_next_frame_is_served()
    {
        var handler = new SummingHandler { ReadOnly = 10 };
        await using var server = Start(handler, null);
        await using var connection = await ConnectAsync(server, null);

        var (first, _) = await SendAsync(connection, Opcode.PutBlocks, new ReadOnlySequence<byte>(new byte[100_000]));
        var (ping, pong) = await SendAsync(connection, Opcode.Ping, new ReadOnlySequence<byte>([9, 9]));

        Assert.Equal(FrameStatus.Ok, first.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
        Assert.Equal([9, 9], pong);
        Assert.Equal(0, server.ProtocolViolations);
    }

    [Fact]
    public async Task A_body_shorter_than_its_contents_claim_is_answered_BadRequest_and_the_connection_keeps_serving()
    {
        var handler = new SummingHandler { ClaimedLength = 1_000 };
        await using var server = Start(handler, null);
        await using var connection = await ConnectAsync(server, null);

        var (header, _) = await SendAsync(connection, Opcode.PutBlocks, new ReadOnlySequence<byte>(new byte[999]));
        var (ping, _) = await SendAsync(connection, Opcode.Ping, ReadOnlySequence<byte>.Empty);

        Assert.Equal(FrameStatus.BadRequest, header.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
    }

    [Fact]
    public async Task A_streamed_body_over_the_frame_limit_closes_the_connection_before_the_handler_runs()
    {
        var handler = new SummingHandler();
        await using var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, new FrameLimits { MaxBodyBytes = 1 << 20 }, NullLogger.Instance);
        server.Start();
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(server.LocalEndPoint, Token);
        var header = new byte[FrameHeader.Size];
        new FrameHeader(Opcode.PutBlocks, FrameFlags.None, FrameStatus.Ok, 1, (1 << 20) + 1).WriteTo(header);

        await raw.SendAsync(header, Token);

        Assert.Equal(0, await raw.ReceiveAsync(new byte[16], Token)); // closed without an answer
        Assert.Equal(1, server.ProtocolViolations);
        Assert.Equal(0, handler.Streamed);
    }

    [Fact]
    public async Task A_connection_that_ends_mid_body_closes_only_itself()
    {
        var handler = new SummingHandler();
        await using var server = Start(handler, null);
        await using var good = await ConnectAsync(server, null);
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(server.LocalEndPoint, Token);
            var frame = new byte[FrameHeader.Size + 1000];
            new FrameHeader(Opcode.PutBlocks, FrameFlags.None, FrameStatus.Ok, 1, 100_000).WriteTo(frame);
            await raw.SendAsync(frame, Token);
        }

        var (header, _) = await SendAsync(good, Opcode.PutBlocks, new ReadOnlySequence<byte>(new byte[10]));

        Assert.Equal(FrameStatus.Ok, header.Status);
    }

    [Fact]
    public async Task A_body_arriving_after_its_deadline_fails_the_read_and_closes_the_connection()
    {
        var handler = new SummingHandler { Deadline = TimeSpan.Zero };
        await using var server = Start(handler, null);
        await using var connection = await ConnectAsync(server, null);

        await Assert.ThrowsAnyAsync<IOException>(async () => await SendAsync(connection, Opcode.PutBlocks, new ReadOnlySequence<byte>(new byte[100])));

        Assert.IsType<IOException>(handler.Failure);
        Assert.False(connection.IsHealthy);
    }

    [Fact]
    public async Task Peeked_bytes_are_read_again_by_the_next_read_and_reads_never_pass_the_body()
    {
        using var stream = new MemoryStream([1, 2, 3, 4, 5, 6, 7, 8, 99]);
        using var body = new StreamedBody(stream);
        body.Begin(8);

        var peeked = (await body.PeekAsync(3, Token)).ToArray();
        body.Advance(1);
        var rest = new byte[5];
        await body.ReadExactlyAsync(rest, Token);
        await body.SkipAsync(1, Token);

        Assert.Equal([1, 2, 3], peeked);
        Assert.Equal([2, 3, 4, 5, 6], rest);
        Assert.Equal(1, body.Remaining);
        await Assert.ThrowsAsync<ProtocolViolationException>(async () => await body.ReadExactlyAsync(new byte[2], Token));
        await Assert.ThrowsAsync<ProtocolViolationException>(async () => await body.PeekAsync(2, Token));
        Assert.Equal([8], (await body.PeekAsync(1, Token)).ToArray());
    }

    [Fact]
    public async Task The_Authenticate_answer_names_the_nodes_protocol_version()
    {
        await using var server = Start(new SummingHandler(), null);
        await using var authenticated = await ConnectAsync(server, null);
        await using var plain = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, Token);

        Assert.Equal(FrameHeader.Version, authenticated.PeerVersion);
        Assert.True(authenticated.Supports(Opcode.PutBlocks));
        Assert.False(plain.Supports(Opcode.PutBlocks)); // never told: assumes the oldest peer that authenticates
    }

    private static FrameServer Start(IFrameHandler handler, X509Certificate2? certificate)
    {
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler,
            new FrameServerOptions { Tls = certificate is null ? null : new SslServerAuthenticationOptions { ServerCertificate = certificate } },
            NullLogger.Instance);
        server.Start();
        return server;
    }

    private static Task<FrameConnection> ConnectAsync(FrameServer server, X509Certificate2? certificate) =>
        FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions
        {
            Tls = certificate is null
                ? null
                : new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString(),
                },
        }, Token);

    private static async Task<(FrameHeader Header, byte[] Body)> SendAsync(FrameConnection connection, Opcode opcode, ReadOnlySequence<byte> body)
    {
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(opcode, body, sink, Token);
        return (header, sink.Body.ToArray());
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pkcs12), null);
    }

    private static ReadOnlySequence<byte> Sequence(params ReadOnlyMemory<byte>[] parts)
    {
        var first = new Part(parts[0], 0);
        var last = first;
        foreach (var part in parts[1..])
        {
            last = last.Append(part);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Part : ReadOnlySequenceSegment<byte>
    {
        public Part(ReadOnlyMemory<byte> memory, long runningIndex) => (Memory, RunningIndex) = (memory, runningIndex);

        public Part Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Part(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }

    /// <summary>Streams PutBlocks bodies: reads <see cref="ReadOnly"/> bytes (all by default) into its own buffer and
    /// answers their count; answers Ping by echoing the buffered body.</summary>
    private sealed class SummingHandler : IStreamedFrameHandler
    {
        public int? ReadOnly { get; init; }

        public int? ClaimedLength { get; init; }

        public TimeSpan? Deadline { get; init; }

        public byte[] LastBody { get; private set; } = [];

        public int Streamed { get; private set; }

        public Exception? Failure { get; private set; }

        public bool StreamsBody(Opcode opcode) => opcode == Opcode.PutBlocks;

        public async ValueTask HandleStreamedAsync(FrameHeader header, FrameConnectionContext? connection, StreamedBody body, FrameResponder responder,
            CancellationToken cancellationToken)
        {
            Streamed++;
            if (Deadline is { } deadline)
            {
                body.SetDeadline(deadline);
            }

            var length = ClaimedLength ?? ReadOnly ?? body.Length;
            var received = new byte[length];
            try
            {
                var peeked = await body.PeekAsync(Math.Min(4, length), cancellationToken);
                peeked.CopyTo(received);
                body.Advance(peeked.Length);
                await body.ReadExactlyAsync(received.AsMemory(peeked.Length), cancellationToken);
            }
            catch (IOException error)
            {
                Failure = error;
                throw;
            }

            LastBody = received;
            var answer = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(answer, received.Length);
            await responder.SendAsync(FrameStatus.Ok, answer, cancellationToken);
        }

        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            responder.SendAsync(FrameStatus.Ok, request.Body.ToArray(), cancellationToken);
    }
}
