using System.Buffers;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>
/// Receives a ReadBlocksSplit (or, from an older node, ReadBlocks) answer as it arrives: the head (whose size the
/// request fixes) in one read, then the chunks layer-major, each handed to the receiver as soon as it is complete, so
/// the first layers are usable while later ones are still on the wire. In the split layout every chunk's head is
/// already known, so payloads the receiver places back to back (consecutive slots of its destination) are received
/// with one read, straight into place, and verified while they are still in cache; the others go through a pooled
/// staging buffer, several per read. No read spans two layers.
/// </summary>
internal sealed class ReadBlocksSink(BlockRead request, IBlockReadReceiver receiver, FrameLimits limits, int chunkHeadBytes) : IResponseSink
{
    /// <summary><c>chunkHeadBytes</c> for a ReadBlocks answer, whose chunks arrive whole.</summary>
    public const int WholeChunks = -1;

    private const int StagingBytes = 256 << 10;

    // Placed payloads back to back are received in one read of up to this many bytes (fewer socket reads and wakeups),
    // then verified while still in cache.
    private const int RunBytes = 1 << 20;

    private const byte NotAsked = 0;
    private const byte Placed = 1;
    private const byte Staged = 2;
    private const byte Ended = 3;

    // Per chunk of the answer, in arrival order, while its payloads are received (split layout): where the receiver
    // placed it and whether it was asked, placed, staged or is done.
    private Memory<byte>[] regions = [];
    private int[] offsets = [];
    private byte[] states = [];
    private byte[]? staging;
    private int stagingLength;

    private bool Split => chunkHeadBytes != WholeChunks;

    public async ValueTask ReceiveAsync(FrameHeader header, Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var blocks = request.Keys.Length;
        var layers = request.LayerCount;
        if (header.Status != FrameStatus.Ok)
        {
            await SkipAsync(stream, header.BodyLength, cancellationToken);
            for (var block = 0; block < blocks; block++)
            {
                receiver.BlockAnswered(block, header.Status);
            }

            return;
        }

        var headLength = Split ? ReadBlocksResponse.MeasureSplitHead(blocks, layers, chunkHeadBytes) : ReadBlocksResponse.MeasureHead(blocks, layers);
        if (header.BodyLength < headLength)
        {
            throw new ProtocolViolationException($"ReadBlocks answer of {header.BodyLength} bytes is shorter than its {headLength}-byte head.");
        }

        var statuses = ArrayPool<FrameStatus>.Shared.Rent(blocks);
        var chunks = ArrayPool<ChunkDeclaration>.Shared.Rent(blocks * layers);
        var head = ArrayPool<byte>.Shared.Rent(headLength);
        try
        {
            await stream.ReadExactlyAsync(head.AsMemory(0, headLength), cancellationToken);
            var payload = Split
                ? ReadBlocksResponse.ReadSplitHead(head.AsSpan(0, headLength), limits, blocks, layers, chunkHeadBytes, statuses, chunks)
                : ReadBlocksResponse.ReadHead(head.AsSpan(0, headLength), limits, blocks, layers, statuses, chunks);
            if (headLength + payload != header.BodyLength)
            {
                throw new ProtocolViolationException(
                    $"ReadBlocks answer is {header.BodyLength} bytes; its head announces {headLength} + {payload}.");
            }

            var largest = 0;
            for (var block = 0; block < blocks; block++)
            {
                receiver.BlockAnswered(block, statuses[block]);
                for (var layer = 0; layer < layers; layer++)
                {
                    largest = Math.Max(largest, PayloadLength(chunks[(block * layers) + layer]));
                }
            }

            stagingLength = (int)Math.Min(payload, Math.Max(largest, StagingBytes));
            var order = ArrayPool<int>.Shared.Rent(Math.Max(1, blocks * layers));
            try
            {
                var count = LayerMajorOrder(statuses, order);
                if (Split)
                {
                    await ReceiveSplitAsync(stream, order, count, chunks, head, cancellationToken);
                }
                else
                {
                    await ReceiveWholeAsync(stream, order, count, chunks, cancellationToken);
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(order);
            }
        }
        finally
        {
            ArrayPool<FrameStatus>.Shared.Return(statuses);
            ArrayPool<ChunkDeclaration>.Shared.Return(chunks);
            ArrayPool<byte>.Shared.Return(head);
            if (staging is not null)
            {
                ArrayPool<byte>.Shared.Return(staging);
            }
        }
    }

    /// <summary>The Ok blocks' chunks (block-major indexes) in the order they arrive: layer by layer.</summary>
    private int LayerMajorOrder(FrameStatus[] statuses, int[] order)
    {
        var blocks = request.Keys.Length;
        var layers = request.LayerCount;
        var count = 0;
        for (var layer = 0; layer < layers; layer++)
        {
            for (var block = 0; block < blocks; block++)
            {
                if (statuses[block] == FrameStatus.Ok)
                {
                    order[count++] = (block * layers) + layer;
                }
            }
        }

        return count;
    }

    /// <summary>Bytes of a chunk that follow its head on the wire (all of it for whole chunks).</summary>
    private int PayloadLength(ChunkDeclaration chunk) => Split ? chunk.Length - Math.Min(chunk.Length, chunkHeadBytes) : chunk.Length;

    /// <summary>Whole chunks, as many as fit the staging buffer per read.</summary>
    private async ValueTask ReceiveWholeAsync(Stream stream, int[] order, int count, ChunkDeclaration[] chunks, CancellationToken cancellationToken)
    {
        var layers = request.LayerCount;
        var staging = Staging();
        for (var next = 0; next < count;)
        {
            var end = next;
            var filled = 0;
            do
            {
                filled += chunks[order[end++]].Length;
            }
            while (end < count && filled + chunks[order[end]].Length <= staging.Length);

            await stream.ReadExactlyAsync(staging.AsMemory(0, filled), cancellationToken);
            for (var offset = 0; next < end; next++)
            {
                var chunk = order[next];
                var length = chunks[chunk].Length;
                receiver.ChunkReceived(chunk / layers, chunk % layers, staging.AsSpan(offset, length));
                offset += length;
            }
        }
    }

    /// <summary>
    /// Payloads after a split head: runs of payloads the receiver placed back to back go straight into place with one
    /// read each; the rest through staging. If the receiver abandons the read meanwhile, the socket read is cancelled
    /// and the connection fails (its stream position is lost), so nothing is written into its memory once it has moved
    /// on. Every placement granted ends with <see cref="IBlockReadReceiver.PayloadPlaced"/>, complete or not.
    /// </summary>
    private async ValueTask ReceiveSplitAsync(Stream stream, int[] order, int count, ChunkDeclaration[] chunks, byte[] head,
        CancellationToken cancellationToken)
    {
        var layers = request.LayerCount;
        regions = ArrayPool<Memory<byte>>.Shared.Rent(count);
        offsets = ArrayPool<int>.Shared.Rent(count);
        states = ArrayPool<byte>.Shared.Rent(count);
        states.AsSpan(0, count).Clear();
        CancellationTokenSource? placing = null;
        var next = 0;
        try
        {
            while (next < count)
            {
                var end = next + 1;
                var bytes = PayloadLength(chunks[order[next]]);
                if (Ask(next, order, chunks, head))
                {
                    while (end < count && bytes < RunBytes && SameLayer(order[end], order[next]) && Ask(end, order, chunks, head)
                           && regions[end].Equals(regions[next]) && offsets[end] == offsets[next] + bytes)
                    {
                        bytes += PayloadLength(chunks[order[end++]]);
                    }

                    placing ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, receiver.Abandoned);
                    try
                    {
                        await stream.ReadExactlyAsync(regions[next].Slice(offsets[next], bytes), placing.Token);
                    }
                    catch (OperationCanceledException) when (receiver.Abandoned.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        throw new IOException("The reader abandoned a ReadBlocksSplit answer in the middle of a payload; the connection cannot continue.");
                    }

                    for (; next < end; next++)
                    {
                        states[next] = Ended;
                        var chunk = order[next];
                        receiver.PayloadPlaced(chunk / layers, chunk % layers, ChunkHead(head, chunks, chunk), complete: true);
                    }

                    continue;
                }

                var staging = Staging();
                while (end < count && bytes + PayloadLength(chunks[order[end]]) <= staging.Length && SameLayer(order[end], order[next])
                       && !Ask(end, order, chunks, head))
                {
                    bytes += PayloadLength(chunks[order[end++]]);
                }

                await stream.ReadExactlyAsync(staging.AsMemory(0, bytes), cancellationToken);
                for (var offset = 0; next < end; next++)
                {
                    var chunk = order[next];
                    var length = PayloadLength(chunks[chunk]);
                    receiver.ChunkReceived(chunk / layers, chunk % layers, ChunkHead(head, chunks, chunk), staging.AsSpan(offset, length));
                    offset += length;
                }
            }
        }
        finally
        {
            for (var i = next; i < count; i++)
            {
                if (states[i] == Placed)
                {
                    var chunk = order[i];
                    receiver.PayloadPlaced(chunk / layers, chunk % layers, default, complete: false);
                }
            }

            placing?.Dispose();
            ArrayPool<Memory<byte>>.Shared.Return(regions, clearArray: true);
            ArrayPool<int>.Shared.Return(offsets);
            ArrayPool<byte>.Shared.Return(states);
        }
    }

    /// <summary>A read never crosses into the next layer: a layer is complete (and its reader told) as soon as its last
    /// chunk arrived, without waiting for bytes of the next one.</summary>
    private bool SameLayer(int chunk, int other) => chunk % request.LayerCount == other % request.LayerCount;

    /// <summary>Asks the receiver once where the payload of the chunk <paramref name="order"/>[<paramref name="i"/>]
    /// goes; true when it is placed.</summary>
    private bool Ask(int i, int[] order, ChunkDeclaration[] chunks, byte[] head)
    {
        if (states[i] == NotAsked)
        {
            var chunk = order[i];
            var length = PayloadLength(chunks[chunk]);
            regions[i] = length == 0 ? default
                : receiver.PlacePayload(chunk / request.LayerCount, chunk % request.LayerCount, ChunkHead(head, chunks, chunk), length, out offsets[i]);
            states[i] = regions[i].IsEmpty ? Staged : Placed;
        }

        return states[i] == Placed;
    }

    /// <summary>The staging buffer, rented on first use (a split answer whose payloads are all placed needs none).</summary>
    private byte[] Staging() => staging ??= ArrayPool<byte>.Shared.Rent(stagingLength);

    private ReadOnlySpan<byte> ChunkHead(byte[] head, ChunkDeclaration[] chunks, int chunk) =>
        ReadBlocksResponse.SplitChunkHead(head, request.Keys.Length, chunkHeadBytes, chunk)[..Math.Min(chunkHeadBytes, chunks[chunk].Length)];

    private static async ValueTask SkipAsync(Stream stream, int length, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Clamp(length, 1, 1 << 16));
        try
        {
            while (length > 0)
            {
                var part = Math.Min(length, scratch.Length);
                await stream.ReadExactlyAsync(scratch.AsMemory(0, part), cancellationToken);
                length -= part;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}
