using System.Net;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Transport.Tests;

/// <summary>Gathered sends of bytes that are valid only for a while (arena extents under a lease).</summary>
public sealed class FrameResponderTests : IAsyncLifetime
{
    private readonly GatheringHandler handler = new();
    private FrameServer server = null!;

    public ValueTask InitializeAsync()
    {
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, FrameLimits.Default, NullLogger.Instance);
        server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await server.DisposeAsync();

    [Fact]
    public async Task Gathered_segments_arrive_back_to_back_with_a_small_first_segment_coalesced()
    {
        await using var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, TestContext.Current.CancellationToken);
        using var sink = new BufferedResponseSink();

        var header = await connection.SendAsync(Opcode.ReadBlocks, new byte[] { 1 }, sink, TestContext.Current.CancellationToken);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal(handler.Segments.SelectMany(s => s.ToArray()).ToArray(), sink.Body.ToArray());
    }

    [Fact]
    public async Task Bytes_no_longer_valid_when_sent_close_the_connection_instead_of_being_answered()
    {
        await using var broken = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, TestContext.Current.CancellationToken);
        await using var healthy = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, TestContext.Current.CancellationToken);
        using var sink = new BufferedResponseSink();

        await Assert.ThrowsAnyAsync<IOException>(async () =>
            await broken.SendAsync(Opcode.ReadBlocks, new byte[] { 0 }, sink, TestContext.Current.CancellationToken));
        var header = await healthy.SendAsync(Opcode.ReadBlocks, new byte[] { 1 }, sink, TestContext.Current.CancellationToken);

        Assert.False(broken.IsHealthy);
        Assert.Equal(FrameStatus.Ok, header.Status);
    }

    /// <summary>Answers ReadBlocks with three segments; a body of [0] says the bytes already expired.</summary>
    private sealed class GatheringHandler : IFrameHandler
    {
        public ReadOnlyMemory<byte>[] Segments { get; } = [new byte[] { 9, 8, 7 }, Enumerable.Range(0, 100_000).Select(i => (byte)i).ToArray(), new byte[] { 1 }];

        public async ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
        {
            var validFor = request.Body.Span[0] == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(30);
            await responder.SendGatheredAsync(FrameStatus.Ok, Segments, validFor, cancellationToken);
        }
    }
}
