using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Transport.Tests;

public sealed class FrameServerTests : IAsyncLifetime
{
    private readonly ScriptedHandler handler = new();
    private FrameServer server = null!;

    public ValueTask InitializeAsync()
    {
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, FrameLimits.Default, NullLogger.Instance);
        server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await server.DisposeAsync();

    private Task<FrameConnection> ConnectAsync() =>
        FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, TestContext.Current.CancellationToken);

    private static async Task<(FrameHeader Header, byte[] Body)> SendAsync(FrameConnection connection, Opcode opcode, byte[] body)
    {
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(opcode, body, sink, TestContext.Current.CancellationToken);
        return (header, sink.Body.ToArray());
    }

    [Fact]
    public async Task Pipelined_requests_on_one_connection_each_get_their_own_response()
    {
        await using var connection = await ConnectAsync();
        var requests = Enumerable.Range(0, 200).Select(async i =>
        {
            var (header, body) = await SendAsync(connection, Opcode.Ping, BitConverter.GetBytes(i));
            Assert.Equal(FrameStatus.Ok, header.Status);
            Assert.Equal(i, BitConverter.ToInt32(body));
        });
        await Task.WhenAll(requests);
    }

    [Fact]
    public async Task Multi_megabyte_bodies_and_segmented_responses_arrive_intact()
    {
        await using var connection = await ConnectAsync();
        var payload = new byte[8 << 20];
        new Random(1).NextBytes(payload);
        var (header, body) = await SendAsync(connection, Opcode.WriteExtents, payload);
        Assert.Equal(FrameStatus.Ok, header.Status);
        // The handler answers in two segments: the first 16 bytes, then the rest.
        Assert.Equal(payload, body);
    }

    [Fact]
    public async Task A_handler_failure_is_answered_and_the_connection_keeps_serving()
    {
        await using var connection = await ConnectAsync();
        Assert.Equal(FrameStatus.InternalError, (await SendAsync(connection, Opcode.CommitBlocks, [1])).Header.Status);
        Assert.Equal(FrameStatus.BadRequest, (await SendAsync(connection, Opcode.ReserveBlocks, [1])).Header.Status);
        Assert.Equal(FrameStatus.Ok, (await SendAsync(connection, Opcode.Ping, [7, 0, 0, 0])).Header.Status);
    }

    [Fact]
    public async Task Garbage_closes_only_the_connection_that_sent_it()
    {
        await using var good = await ConnectAsync();
        using (var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await raw.ConnectAsync(server.LocalEndPoint, TestContext.Current.CancellationToken);
            await raw.SendAsync("GET / HTTP/1.1\r\nHost: kvtier\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            var buffer = new byte[16];
            // The server closes the connection without answering.
            Assert.Equal(0, await raw.ReceiveAsync(buffer, TestContext.Current.CancellationToken));
        }

        Assert.Equal(1, server.ProtocolViolations);
        Assert.Equal(FrameStatus.Ok, (await SendAsync(good, Opcode.Ping, [1, 0, 0, 0])).Header.Status);
    }

    [Fact]
    public async Task An_oversized_length_is_refused_before_the_body_is_read()
    {
        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await raw.ConnectAsync(server.LocalEndPoint, TestContext.Current.CancellationToken);
        var header = new byte[FrameHeader.Size];
        new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0).WriteTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), int.MaxValue);
        await raw.SendAsync(header, TestContext.Current.CancellationToken);
        Assert.Equal(0, await raw.ReceiveAsync(new byte[16], TestContext.Current.CancellationToken));
        Assert.Equal(1, server.ProtocolViolations);
    }

    [Fact]
    public async Task A_cancelled_request_does_not_disturb_the_requests_after_it()
    {
        await using var connection = await ConnectAsync();
        using var cancel = new CancellationTokenSource();
        using var slowSink = new BufferedResponseSink();
        var slow = connection.SendAsync(Opcode.LeaseBlocks, new byte[4], slowSink, cancel.Token).AsTask();
        await handler.SlowRequestStarted.Task.WaitAsync(TestContext.Current.CancellationToken);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => slow);
        handler.ReleaseSlowRequest.SetResult();

        Assert.Equal(42, BitConverter.ToInt32((await SendAsync(connection, Opcode.Ping, BitConverter.GetBytes(42))).Body));
    }

    [Fact]
    public async Task Requests_in_flight_fail_with_an_IO_error_when_the_server_goes_away()
    {
        var connection = await ConnectAsync();
        using var sink = new BufferedResponseSink();
        var pending = connection.SendAsync(Opcode.LeaseBlocks, new byte[4], sink, TestContext.Current.CancellationToken).AsTask();
        await handler.SlowRequestStarted.Task.WaitAsync(TestContext.Current.CancellationToken);
        var disposing = server.DisposeAsync().AsTask();
        await Assert.ThrowsAnyAsync<IOException>(() => pending);
        Assert.False(connection.IsHealthy);
        handler.ReleaseSlowRequest.TrySetResult();
        await disposing;
        await connection.DisposeAsync();
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, FrameLimits.Default, NullLogger.Instance);
    }

    /// <summary>Echoes Ping bodies; WriteExtents echoes in two segments; CommitBlocks throws; ReserveBlocks throws a
    /// protocol violation; LeaseBlocks waits until released.</summary>
    private sealed class ScriptedHandler : IFrameHandler
    {
        public TaskCompletionSource SlowRequestStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseSlowRequest { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
        {
            switch (request.Header.Opcode)
            {
                case Opcode.CommitBlocks:
                    throw new InvalidOperationException("scripted failure");
                case Opcode.ReserveBlocks:
                    throw new ProtocolViolationException("scripted bad body");
                case Opcode.LeaseBlocks:
                    SlowRequestStarted.TrySetResult();
                    await ReleaseSlowRequest.Task.WaitAsync(cancellationToken);
                    await responder.SendAsync(FrameStatus.Ok, ReadOnlyMemory<byte>.Empty, cancellationToken);
                    break;
                case Opcode.WriteExtents:
                    var first = new Segment(request.Body[..16]);
                    var last = first.Append(request.Body[16..]);
                    await responder.SendAsync(FrameStatus.Ok, new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length), cancellationToken);
                    break;
                default:
                    await responder.SendAsync(FrameStatus.Ok, request.Body, cancellationToken);
                    break;
            }
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
