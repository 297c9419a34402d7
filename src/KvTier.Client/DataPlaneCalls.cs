using System.Buffers;
using KvTier.Core;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>Request/response pairs of the TCP data plane on one connection: stores, and the lease verbs.</summary>
internal static class DataPlaneCalls
{
    /// <summary>Leases blocks and returns their chunk extents: the contract one-sided (RDMA) reads fetch from. TCP loads
    /// use ReadBlocks instead; this stays for the RDMA path and for tests of tenant-scoped leases.</summary>
    public static async ValueTask<(BlockExtents[] Blocks, ChunkExtent[] Extents)> LeaseAsync(FrameConnection connection, FrameLimits limits,
        NamespaceId ns, int firstLayer, int layerCount, TimeSpan lease, BlockKey[] keys, CancellationToken cancellationToken)
    {
        var body = ArrayPool<byte>.Shared.Rent(LeaseBlocksRequest.MeasureBody(keys.Length));
        try
        {
            var length = LeaseBlocksRequest.Write(body, ns, firstLayer, layerCount, (int)lease.TotalMilliseconds, keys);
            using var sink = new BufferedResponseSink();
            var header = await connection.SendAsync(Opcode.LeaseBlocks, body.AsMemory(0, length), sink, cancellationToken);
            ThrowIfRefused(header, connection);
            var blocks = new BlockExtents[keys.Length];
            var extents = new ChunkExtent[keys.Length * layerCount];
            BlockExtentsResponse.Read(sink.Body.Span, limits, keys.Length, blocks, extents, out _);
            return (blocks, extents);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    public static ValueTask<FrameStatus[]> ReleaseAsync(FrameConnection connection, ulong[] handles, CancellationToken cancellationToken) =>
        HandlesAsync(connection, Opcode.ReleaseLeases, handles, cancellationToken);

    public static ValueTask<FrameStatus[]> CommitAsync(FrameConnection connection, ulong[] handles, CancellationToken cancellationToken) =>
        HandlesAsync(connection, Opcode.CommitBlocks, handles, cancellationToken);

    public static async ValueTask<(BlockExtents[] Blocks, ChunkExtent[] Extents)> ReserveAsync(FrameConnection connection, FrameLimits limits,
        BlockWrite request, CancellationToken cancellationToken)
    {
        var blocks = request.Blocks;
        var chunks = request.Chunks;
        var body = ArrayPool<byte>.Shared.Rent(ReserveBlocksRequest.MeasureBody(blocks.Length, chunks.Length));
        try
        {
            var length = ReserveBlocksRequest.Write(body, request.Namespace, (int)request.ReservationTimeout.TotalMilliseconds, blocks.Span, chunks.Span);
            using var sink = new BufferedResponseSink();
            var header = await connection.SendAsync(Opcode.ReserveBlocks, body.AsMemory(0, length), sink, cancellationToken);
            ThrowIfRefused(header, connection);
            var answered = new BlockExtents[blocks.Length];
            var extents = new ChunkExtent[chunks.Length];
            BlockExtentsResponse.Read(sink.Body.Span, limits, blocks.Length, answered, extents, out _);
            return (answered, extents);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>Reserves the request's blocks; null, with every block's outcome set to the node's status, when the node
    /// refused the whole request.</summary>
    public static async ValueTask<(BlockExtents[] Blocks, ChunkExtent[] Extents)?> TryReserveAsync(FrameConnection connection, FrameLimits limits,
        BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        try
        {
            return await ReserveAsync(connection, limits, request, cancellationToken);
        }
        catch (NodeRequestException refused)
        {
            outcomes.Span[..request.Blocks.Length].Fill(refused.Status);
            return null;
        }
    }

    /// <summary>Sends the extents' bytes as segments after the extent list, without copying them into one buffer.</summary>
    public static async ValueTask<FrameStatus[]> WriteAsync(FrameConnection connection, ExtentIo[] items, ReadOnlyMemory<byte>[] payloads,
        CancellationToken cancellationToken)
    {
        var head = new byte[ExtentIoRequest.MeasureHead(items.Length)];
        var writer = new BodyWriter(head);
        ExtentIoRequest.WriteHead(ref writer, items);
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(Opcode.WriteExtents, Segments.Of(head, payloads), sink, cancellationToken);
        ThrowIfRefused(header, connection);
        return ReadStatuses(sink, items.Length);
    }

    /// <summary>Stores blocks <paramref name="first"/>..+<paramref name="count"/> of <paramref name="request"/> with one
    /// PutBlocks frame (declarations, then the chunks' bytes as segments, not copied) and writes their outcomes.</summary>
    /// <param name="connection">A connection to a node that speaks protocol version 3.</param>
    /// <param name="request">The whole store.</param>
    /// <param name="firstSegment">Index of each chunk's first payload segment in <paramref name="request"/>, and the end.</param>
    /// <param name="first">First block of this frame.</param>
    /// <param name="count">Blocks in this frame.</param>
    /// <param name="outcomes">Where block <paramref name="first"/>'s outcome goes, then the others'.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public static async Task PutAsync(FrameConnection connection, BlockWrite request, int[] firstSegment, int first, int count,
        Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        var blocks = request.Blocks.Slice(first, count);
        var chunkCount = 0;
        foreach (var block in blocks.Span)
        {
            chunkCount += block.ChunkCount;
        }

        var head = ArrayPool<byte>.Shared.Rent(PutBlocksRequest.MeasureHead(count, chunkCount));
        try
        {
            var length = PutBlocksRequest.WriteHead(head, request.Namespace, blocks.Span, request.Chunks.Span);
            var span = blocks.Span;
            var firstChunk = span[0].FirstChunk;
            var lastChunk = span[^1].FirstChunk + span[^1].ChunkCount;
            // Blocks of one store declare their chunks back to back, so the frame's payload is one run of segments.
            var payload = request.Payloads.Span[firstSegment[firstChunk]..firstSegment[lastChunk]];
            using var sink = new BufferedResponseSink();
            var header = await connection.SendAsync(Opcode.PutBlocks, Segments.Of(head.AsMemory(0, length), payload), sink, cancellationToken);
            ThrowIfRefused(header, connection);
            var reader = new BodyReader(sink.Body.Span);
            StatusBatch.Read(ref reader, count, outcomes.Span[..count]);
            reader.EnsureFullyRead("PutBlocks answer");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(head);
        }
    }

    /// <exception cref="UnauthorizedAccessException">The token may not use the request's namespace: a configuration
    /// error, which propagates to the caller rather than reading as a node failure.</exception>
    public static void ThrowIfRefused(FrameHeader header, FrameConnection connection)
    {
        if (header.Status == FrameStatus.Unauthorized)
        {
            throw new UnauthorizedAccessException(
                $"Node {connection.RemoteEndPoint} refused the {header.Opcode} request: this client's token may not use the namespace (Unauthorized).");
        }

        if (header.Status != FrameStatus.Ok)
        {
            throw new NodeRequestException(header.Status,
                $"Node {connection.RemoteEndPoint} refused the {header.Opcode} request: {header.Status}.");
        }
    }

    private static async ValueTask<FrameStatus[]> HandlesAsync(FrameConnection connection, Opcode opcode, ulong[] handles,
        CancellationToken cancellationToken)
    {
        var body = new byte[HandleBatch.MeasureBody(handles.Length)];
        HandleBatch.Write(body, handles);
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(opcode, body, sink, cancellationToken);
        ThrowIfRefused(header, connection);
        return ReadStatuses(sink, handles.Length);
    }

    private static FrameStatus[] ReadStatuses(BufferedResponseSink sink, int expected)
    {
        var statuses = new FrameStatus[expected];
        var reader = new BodyReader(sink.Body.Span);
        StatusBatch.Read(ref reader, expected, statuses);
        reader.EnsureFullyRead("status batch");
        return statuses;
    }
}
