using System.Buffers;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>
/// Receives a ReadBlocks answer as it arrives: the head (whose size the request fixes) in one read, then the chunks,
/// several small ones per read, each handed to the receiver as soon as it is complete, so the first layers are usable
/// while later ones are still on the wire. The staging buffer is pooled.
/// </summary>
internal sealed class ReadBlocksSink(BlockRead request, IBlockReadReceiver receiver, FrameLimits limits) : IResponseSink
{
    private const int StagingBytes = 256 << 10;

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

        var headLength = ReadBlocksResponse.MeasureHead(blocks, layers);
        if (header.BodyLength < headLength)
        {
            throw new ProtocolViolationException($"ReadBlocks answer of {header.BodyLength} bytes is shorter than its {headLength}-byte head.");
        }

        var statuses = ArrayPool<FrameStatus>.Shared.Rent(blocks);
        var chunks = ArrayPool<ChunkDeclaration>.Shared.Rent(blocks * layers);
        var staging = ArrayPool<byte>.Shared.Rent(headLength);
        try
        {
            await stream.ReadExactlyAsync(staging.AsMemory(0, headLength), cancellationToken);
            var payload = ReadBlocksResponse.ReadHead(staging.AsSpan(0, headLength), limits, blocks, layers, statuses, chunks);
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
                    largest = Math.Max(largest, chunks[(block * layers) + layer].Length);
                }
            }

            var wanted = (int)Math.Min(payload, Math.Max(largest, StagingBytes));
            if (staging.Length < wanted)
            {
                ArrayPool<byte>.Shared.Return(staging);
                staging = ArrayPool<byte>.Shared.Rent(wanted);
            }

            await ReceiveChunksAsync(stream, statuses, chunks, staging, cancellationToken);
        }
        finally
        {
            ArrayPool<FrameStatus>.Shared.Return(statuses);
            ArrayPool<ChunkDeclaration>.Shared.Return(chunks);
            ArrayPool<byte>.Shared.Return(staging);
        }
    }

    /// <summary>Reads the chunks layer-major, filling the staging buffer with as many whole chunks as fit per read.</summary>
    private async ValueTask ReceiveChunksAsync(Stream stream, FrameStatus[] statuses, ChunkDeclaration[] chunks, byte[] staging,
        CancellationToken cancellationToken)
    {
        var blocks = request.Keys.Length;
        var layers = request.LayerCount;
        var order = ArrayPool<int>.Shared.Rent(Math.Max(1, blocks * layers));
        CancellationTokenSource? placing = null;
        try
        {
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

            for (var next = 0; next < count;)
            {
                var first = order[next];
                var placed = receiver.PlaceChunk(first / layers, first % layers, chunks[first].Length, out var headLength);
                if (!placed.IsEmpty)
                {
                    placing ??= CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, receiver.Abandoned);
                    await ReceivePlacedAsync(stream, first / layers, first % layers, chunks[first].Length, headLength, placed, staging,
                        cancellationToken, placing.Token);
                    next++;
                    continue;
                }

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
        finally
        {
            placing?.Dispose();
            ArrayPool<int>.Shared.Return(order);
        }
    }

    /// <summary>Receives a chunk's head into staging and the rest straight into the receiver's memory. If the receiver
    /// abandons the read meanwhile, the socket read is cancelled and the connection fails (its stream position is lost),
    /// so nothing is written into that memory once the receiver has moved on.</summary>
    private async ValueTask ReceivePlacedAsync(Stream stream, int block, int layer, int length, int headLength, Memory<byte> placed,
        byte[] staging, CancellationToken cancellationToken, CancellationToken placing)
    {
        if (headLength < 0 || headLength > Math.Min(length, staging.Length) || placed.Length != length - headLength)
        {
            receiver.ChunkPlaced(block, layer, default, complete: false);
            throw new InvalidOperationException($"A placement of {placed.Length} bytes after a {headLength}-byte head does not fit a {length}-byte chunk.");
        }

        var complete = false;
        try
        {
            await stream.ReadExactlyAsync(staging.AsMemory(0, headLength), cancellationToken);
            await stream.ReadExactlyAsync(placed, placing);
            complete = true;
        }
        catch (OperationCanceledException) when (receiver.Abandoned.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new IOException("The reader abandoned a ReadBlocks answer in the middle of a chunk; the connection cannot continue.");
        }
        finally
        {
            receiver.ChunkPlaced(block, layer, complete ? staging.AsSpan(0, headLength) : default, complete);
        }
    }

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
