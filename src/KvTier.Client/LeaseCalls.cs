using System.Buffers;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>The lease verbs of the TCP data plane, which the RDMA channel uses around its one-sided reads: LeaseBlocks
/// hands out each block's chunk extents (offset, length, XXH3-64) and keeps them in place; ReleaseLeases ends that.</summary>
internal static class LeaseCalls
{
    /// <exception cref="NodeRequestException">The node refused the whole request (its status applies to every block).</exception>
    public static async ValueTask<(BlockExtents[] Blocks, ChunkExtent[] Extents)> LeaseAsync(FrameConnection connection, FrameLimits limits,
        BlockRead request, TimeSpan duration, CancellationToken cancellationToken)
    {
        var keys = request.Keys;
        var body = ArrayPool<byte>.Shared.Rent(LeaseBlocksRequest.MeasureBody(keys.Length));
        try
        {
            var length = LeaseBlocksRequest.Write(body, request.Namespace, request.FirstLayer, request.LayerCount,
                (int)duration.TotalMilliseconds, keys.Span);
            using var sink = new BufferedResponseSink();
            var header = await connection.SendAsync(Opcode.LeaseBlocks, body.AsMemory(0, length), sink, cancellationToken);
            DataPlaneCalls.ThrowIfRefused(header, connection);
            var blocks = new BlockExtents[keys.Length];
            var extents = new ChunkExtent[keys.Length * request.LayerCount];
            BlockExtentsResponse.Read(sink.Body.Span, limits, keys.Length, blocks, extents, out _);
            return (blocks, extents);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>Releases leases; the node would also let them expire, so a failure here costs only their duration.</summary>
    public static async ValueTask ReleaseAsync(FrameConnection connection, ulong[] handles, CancellationToken cancellationToken)
    {
        var body = new byte[HandleBatch.MeasureBody(handles.Length)];
        HandleBatch.Write(body, handles);
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(Opcode.ReleaseLeases, body, sink, cancellationToken);
        DataPlaneCalls.ThrowIfRefused(header, connection);
    }

    /// <summary>Releases a read's leases once its bytes are out; a failure is only logged, since the node lets them
    /// expire after <paramref name="duration"/> anyway.</summary>
    public static async ValueTask ReleaseQuietlyAsync(FrameConnection connection, ulong[] leases, ILogger logger, object node, TimeSpan duration)
    {
        if (leases.Length == 0)
        {
            return;
        }

        try
        {
            await ReleaseAsync(connection, leases, CancellationToken.None);
        }
        catch (Exception error) when (error is IOException or ProtocolViolationException or NodeRequestException or ObjectDisposedException)
        {
            logger.LogDebug("Node {NodeId}: releasing {Count} leases failed ({Error}); they expire after {Duration}", node, leases.Length,
                error.Message, duration);
        }
    }
}
