using System.Buffers;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>
/// The TCP data plane of one node: a pool of pipelined connections. A read is one ReadBlocksSplit round trip (the node
/// sends the chunks straight from its arena, their heads first, and releases its leases itself; ReadBlocks with a
/// version-2 node); a store is one PutBlocks round trip to a node that speaks protocol version 3 (its Authenticate
/// answer says so), and ReserveBlocks, then WriteExtents and CommitBlocks pipelined on one connection to an older node
/// (the node serves a connection in order).
/// </summary>
internal sealed class TcpNodeChannel(NodeConnectionPool pool, FrameLimits limits) : INodeChannel
{
    public string Peer => pool.EndPoint.ToString() ?? "?";

    public int ReadParallelism => pool.IdleConnections;

    /// <summary>One ReadBlocksSplit round trip (chunk heads in the answer's head, payloads after it) on a node of
    /// protocol version 3 or newer, one ReadBlocks (whole chunks) on an older one.</summary>
    public async ValueTask ReadBlocksAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        var connection = await pool.GetAsync(cancellationToken);
        var split = connection.Supports(Opcode.ReadBlocksSplit);
        var keys = request.Keys.Length;
        var body = ArrayPool<byte>.Shared.Rent(split ? ReadBlocksRequest.MeasureSplitBody(keys) : ReadBlocksRequest.MeasureBody(keys));
        try
        {
            var headBytes = split ? receiver.ChunkHeadLength : ReadBlocksSink.WholeChunks;
            var length = split
                ? ReadBlocksRequest.WriteSplit(body, request.Namespace, request.FirstLayer, request.LayerCount, headBytes, request.Keys.Span)
                : ReadBlocksRequest.Write(body, request.Namespace, request.FirstLayer, request.LayerCount, request.Keys.Span);
            await connection.SendAsync(split ? Opcode.ReadBlocksSplit : Opcode.ReadBlocks, body.AsMemory(0, length),
                new ReadBlocksSink(request, receiver, limits, headBytes), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    public async ValueTask StoreBlocksAsync(BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        if (outcomes.Length < request.Blocks.Length)
        {
            throw new ArgumentException($"{request.Blocks.Length} blocks need as many outcomes, got room for {outcomes.Length}.", nameof(outcomes));
        }

        var firstSegment = SegmentsOfChunks(request);
        var backToBack = ChunksBackToBack(request.Blocks.Span);

        var connection = await pool.GetAsync(cancellationToken);
        if (connection.Supports(Opcode.PutBlocks) && backToBack)
        {
            await PutAsync(connection, request, firstSegment, outcomes, cancellationToken);
            return;
        }

        BlockExtents[] reserved;
        ChunkExtent[] extents;
        try
        {
            (reserved, extents) = await DataPlaneCalls.ReserveAsync(connection, limits, request, cancellationToken);
        }
        catch (NodeRequestException refused)
        {
            outcomes.Span[..request.Blocks.Length].Fill(refused.Status);
            return;
        }

        var writing = 0;
        for (var i = 0; i < reserved.Length; i++)
        {
            var ok = reserved[i].Status == FrameStatus.Ok && reserved[i].ExtentCount == request.Blocks.Span[i].ChunkCount;
            outcomes.Span[i] = ok ? FrameStatus.Ok : reserved[i].Status == FrameStatus.Ok ? FrameStatus.BadRequest : reserved[i].Status;
            if (ok)
            {
                writing++;
            }
        }

        if (writing == 0)
        {
            return;
        }

        var handles = new ulong[writing];
        var writes = new List<Task>();
        var items = new List<ExtentIo>();
        var payloads = new List<ReadOnlyMemory<byte>>();
        long payloadBytes = 0;
        var h = 0;
        for (var i = 0; i < reserved.Length; i++)
        {
            if (outcomes.Span[i] != FrameStatus.Ok)
            {
                continue;
            }

            handles[h++] = reserved[i].Handle;
            var block = request.Blocks.Span[i];
            for (var c = 0; c < block.ChunkCount; c++)
            {
                var extent = extents[reserved[i].FirstExtent + c];
                // One WriteExtents body must stay under the frame limit: a large store goes out as several frames,
                // pipelined on the same connection (a chunk is at most MaxChunkBytes, far below the body limit).
                if (items.Count > 0 && ExtentIoRequest.MeasureHead(items.Count + 1) + payloadBytes + extent.Length > limits.MaxBodyBytes)
                {
                    writes.Add(DataPlaneCalls.WriteAsync(connection, [.. items], [.. payloads], cancellationToken).AsTask());
                    (items, payloads, payloadBytes) = ([], [], 0);
                }

                items.Add(new ExtentIo(reserved[i].Handle, extent.Offset, extent.Length));
                payloadBytes += extent.Length;
                for (var segment = firstSegment[block.FirstChunk + c]; segment < firstSegment[block.FirstChunk + c + 1]; segment++)
                {
                    payloads.Add(request.Payloads.Span[segment]);
                }
            }
        }

        writes.Add(DataPlaneCalls.WriteAsync(connection, [.. items], [.. payloads], cancellationToken).AsTask());

        // The node serves a connection's requests in order, so the commit can follow the writes without waiting.
        var commit = DataPlaneCalls.CommitAsync(connection, handles, cancellationToken).AsTask();
        writes.Add(commit);
        await Task.WhenAll(writes);
        var committed = await commit;
        h = 0;
        for (var i = 0; i < reserved.Length; i++)
        {
            if (outcomes.Span[i] == FrameStatus.Ok)
            {
                outcomes.Span[i] = committed[h++];
            }
        }
    }

    public ValueTask DisposeAsync() => pool.DisposeAsync();

    /// <summary>One round trip: PutBlocks frames, each under the body limit, pipelined on one connection.</summary>
    private async ValueTask PutAsync(FrameConnection connection, BlockWrite request, int[] firstSegment, Memory<FrameStatus> outcomes,
        CancellationToken cancellationToken)
    {
        Task? earlier = null;
        List<Task>? more = null;
        var blocks = request.Blocks;
        var chunks = request.Chunks;
        var start = 0;
        while (start < blocks.Length)
        {
            // A chunk is at most MaxChunkBytes, far below the body limit, so every frame takes at least one block.
            var end = start;
            long bytes = PutBlocksRequest.PrefixSize;
            while (end < blocks.Length)
            {
                var block = blocks.Span[end];
                long blockBytes = BlockDeclarations.Measure(1, block.ChunkCount);
                foreach (var chunk in chunks.Span.Slice(block.FirstChunk, block.ChunkCount))
                {
                    blockBytes += chunk.Length;
                }

                if (end > start && bytes + blockBytes > limits.MaxBodyBytes)
                {
                    break;
                }

                bytes += blockBytes;
                end++;
            }

            var put = PutFrameAsync(connection, request, firstSegment, start, end - start, outcomes[start..end], cancellationToken);
            if (earlier is null)
            {
                earlier = put;
            }
            else
            {
                (more ??= []).Add(put);
            }

            start = end;
        }

        if (more is null)
        {
            await earlier!;
            return;
        }

        more.Add(earlier!);
        await Task.WhenAll(more);
    }

    /// <summary>One PutBlocks frame; a refusal of the whole frame (draining, unknown namespace) becomes each of its
    /// blocks' outcome, as a refused reservation does on the two-phase path.</summary>
    private static async Task PutFrameAsync(FrameConnection connection, BlockWrite request, int[] firstSegment, int first, int count,
        Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        try
        {
            await DataPlaneCalls.PutAsync(connection, request, firstSegment, first, count, outcomes, cancellationToken);
        }
        catch (NodeRequestException refused)
        {
            outcomes.Span[..count].Fill(refused.Status);
        }
    }

    private static bool ChunksBackToBack(ReadOnlySpan<BlockToReserve> blocks)
    {
        for (var i = 1; i < blocks.Length; i++)
        {
            if (blocks[i].FirstChunk != blocks[i - 1].FirstChunk + blocks[i - 1].ChunkCount)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Index of each chunk's first payload segment (one more entry: the end).</summary>
    /// <exception cref="ArgumentException">The segments do not add up to the declared chunks.</exception>
    private static int[] SegmentsOfChunks(BlockWrite request)
    {
        var chunks = request.Chunks.Span;
        var segments = request.Payloads.Span;
        var first = new int[chunks.Length + 1];
        var next = 0;
        for (var c = 0; c < chunks.Length; c++)
        {
            first[c] = next;
            long left = chunks[c].Length;
            while (left > 0 && next < segments.Length)
            {
                left -= segments[next++].Length;
            }

            if (left != 0)
            {
                throw new ArgumentException($"The payload segments do not add up to chunk {c}'s declared {chunks[c].Length} bytes.", nameof(request));
            }
        }

        first[chunks.Length] = next;
        return next == segments.Length ? first
            : throw new ArgumentException($"{segments.Length - next} payload segments are left over after the declared chunks.", nameof(request));
    }
}
