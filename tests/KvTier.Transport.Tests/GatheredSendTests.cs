using System.Net;
using System.Runtime.InteropServices;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Transport.Tests;

/// <summary>Answers gathered from many segments leave through one sendmsg per socket buffer's worth on Linux; what the
/// socket does not take at once follows when there is room, and the bytes arrive in order whatever the split.</summary>
public sealed class GatheredSendTests : IAsyncLifetime
{
    // More segments than one sendmsg takes (IOV_MAX 1024), in native memory like arena extents, 10 MiB in all: more
    // than a loopback socket buffers, so the send runs out of room and resumes.
    private const int SegmentCount = 2500;
    private readonly NativeSegmentsHandler handler = new(SegmentCount);
    private FrameServer server = null!;

    public ValueTask InitializeAsync()
    {
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, new FrameLimits { MaxBodyBytes = 64 << 20 }, NullLogger.Instance);
        server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        handler.Dispose();
    }

    [Fact]
    public async Task Many_native_segments_larger_than_the_socket_buffer_arrive_whole_and_in_order()
    {
        await using var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameLimits { MaxBodyBytes = 64 << 20 },
            TestContext.Current.CancellationToken);
        using var sink = new SlowSink();

        var header = await connection.SendAsync(Opcode.ReadBlocks, new byte[] { 1 }, sink, TestContext.Current.CancellationToken);
        var again = await connection.SendAsync(Opcode.ReadBlocks, new byte[] { 1 }, sink, TestContext.Current.CancellationToken);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal(FrameStatus.Ok, again.Status);
        Assert.Equal(handler.Expected(), sink.Body);
    }

    /// <summary>Reads the answer in small pieces with pauses, so the node's socket buffer fills up.</summary>
    private sealed class SlowSink : IResponseSink, IDisposable
    {
        public byte[] Body { get; private set; } = [];

        public async ValueTask ReceiveAsync(FrameHeader header, Stream stream, CancellationToken cancellationToken)
        {
            var body = new byte[header.BodyLength];
            for (var at = 0; at < body.Length;)
            {
                var part = Math.Min(body.Length - at, 1 << 20);
                await stream.ReadExactlyAsync(body.AsMemory(at, part), cancellationToken);
                at += part;
                await Task.Delay(5, cancellationToken);
            }

            Body = body;
        }

        public void Dispose()
        {
        }
    }

    /// <summary>Answers with a small managed head and <c>count</c> native segments of 1 to 8 KiB.</summary>
    private sealed unsafe class NativeSegmentsHandler : IFrameHandler, IDisposable
    {
        private readonly byte* memory;
        private readonly ReadOnlyMemory<byte>[] segments;

        public NativeSegmentsHandler(int count)
        {
            var random = new Random(5);
            var lengths = Enumerable.Range(0, count).Select(_ => random.Next(1024, 8193)).ToArray();
            var total = lengths.Sum();
            memory = (byte*)NativeMemory.Alloc((nuint)total);
            random.NextBytes(new Span<byte>(memory, total));
            segments = new ReadOnlyMemory<byte>[count + 1];
            segments[0] = new byte[] { 1, 2, 3 };
            var at = 0;
            for (var i = 0; i < count; i++)
            {
                segments[i + 1] = new NativeWindow(memory + at, lengths[i]).Memory;
                at += lengths[i];
            }
        }

        public byte[] Expected() => [.. segments.SelectMany(s => s.ToArray())];

        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            responder.SendGatheredAsync(FrameStatus.Ok, segments, TimeSpan.FromSeconds(30), cancellationToken);

        public void Dispose() => NativeMemory.Free(memory);
    }

    private sealed unsafe class NativeWindow(byte* address, int length) : System.Buffers.MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new(address, length);

        public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) => new(address + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
