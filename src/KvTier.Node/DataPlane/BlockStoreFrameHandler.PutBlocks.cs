using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using KvTier.Core;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.DataPlane;

/// <summary>
/// PutBlocks, the one-round-trip TCP store (protocol version 3): the handler reads the declarations, reserves every
/// block, receives each reserved block's bytes from the socket straight into its reservation (no request buffer, no
/// copy), commits it at once (the engine verifies every chunk against its declared checksum while the bytes are
/// still in cache; a mismatch commits nothing) and answers one status per block. The bytes of a block it does not
/// take (already held, busy, no room, malformed) are read and dropped, so nothing is stored twice.
/// </summary>
public sealed partial class BlockStoreFrameHandler : IStreamedFrameHandler
{
    /// <inheritdoc/>
    public bool StreamsBody(Opcode opcode) => opcode == Opcode.PutBlocks;

    /// <inheritdoc/>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask HandleStreamedAsync(FrameHeader header, FrameConnectionContext? connection, StreamedBody body,
        FrameResponder responder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(responder);
        if (header.Opcode != Opcode.PutBlocks)
        {
            throw new ProtocolViolationException($"Opcode {header.Opcode} is not served with a streamed body.");
        }

        var prefix = await body.PeekAsync(PutBlocksRequest.PrefixSize, cancellationToken);
        PutBlocksRequest.ReadPrefix(prefix.Span, limits, body.Length, out var ns, out var count, out var declarationBytes);
        body.Advance(PutBlocksRequest.PrefixSize);
        if (draining || !namespaces.TryGet(ns, out var kvNamespace))
        {
            // Answer after the whole request arrived, so the answer never races the client's own send.
            await body.SkipAsync(body.Remaining, cancellationToken);
            await (draining
                ? responder.SendAsync(FrameStatus.Draining, ReadOnlyMemory<byte>.Empty, cancellationToken)
                : RefuseNamespaceAsync(ns, responder, cancellationToken));
            return;
        }

        var declarations = await body.PeekAsync(declarationBytes, cancellationToken);
        var blocks = ArrayPool<BlockToReserve>.Shared.Rent(Math.Max(1, count));
        var chunks = ArrayPool<ChunkDeclaration>.Shared.Rent(Math.Max(1, declarationBytes / BlockDeclarations.ChunkSize));
        var held = ArrayPool<BlockReservation>.Shared.Rent(Math.Max(1, count));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(Math.Max(1, count));
        statuses.AsSpan(0, count).Fill(FrameStatus.BadRequest);
        var next = 0;
        try
        {
            var payloadBytes = PutBlocksRequest.ReadDeclarations(declarations.Span, limits, count, blocks, chunks, out _);
            body.Advance(declarationBytes);
            if (payloadBytes != body.Remaining)
            {
                throw new ProtocolViolationException($"PutBlocks declares {payloadBytes} payload bytes but carries {body.Remaining}.");
            }

            var timeout = options.Timing.MaxReservation;
            ReserveAll(ns, kvNamespace!.Layout.Layers, blocks.AsSpan(0, count), chunks, timeout, held, statuses);

            // The socket writes into reservations: stop (and close the connection) before the engine may reclaim them.
            body.SetDeadline(timeout - WriteMargin);
            for (; next < count; next++)
            {
                var length = PayloadLength(blocks[next], chunks);
                if (statuses[next] != FrameStatus.Ok)
                {
                    await body.SkipAsync(checked((int)length), cancellationToken);
                    continue;
                }

                await ReceiveAsync(body, held[next].DataOffset, length, cancellationToken);
                statuses[next] = store.Commit(held[next]).Status switch
                {
                    CommitStatus.Committed => FrameStatus.Ok,
                    CommitStatus.ChecksumMismatch => FrameStatus.Corrupt,
                    _ => FrameStatus.Expired,
                };
            }
        }
        finally
        {
            // A request that failed part way (a broken connection, a body too slow) leaves nothing reserved behind.
            for (; next < count; next++)
            {
                if (statuses[next] == FrameStatus.Ok)
                {
                    store.Abort(held[next]);
                }
            }

            ArrayPool<BlockToReserve>.Shared.Return(blocks);
            ArrayPool<ChunkDeclaration>.Shared.Return(chunks);
            ArrayPool<BlockReservation>.Shared.Return(held);
        }

        try
        {
            await SendStatusesAsync(responder, statuses.AsSpan(0, count), cancellationToken);
        }
        finally
        {
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    /// <summary>PutBlocks whose body a listener already read whole (one that does not stream bodies, or a wrapper
    /// that buffered it): the same handling over the buffered bytes.</summary>
    private async ValueTask PutBufferedAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
    {
        var bytes = MemoryMarshal.TryGetArray(request.Body, out var array) ? array : new ArraySegment<byte>(request.Body.ToArray());
        using var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false);
        using var body = new StreamedBody(stream);
        body.Begin(bytes.Count);
        await HandleStreamedAsync(request.Header, request.Connection, body, responder, cancellationToken);
    }

    /// <summary>Reserves each block (recording its anchor); a block's status is Ok when it holds a reservation.</summary>
    private void ReserveAll(NamespaceId ns, int layers, ReadOnlySpan<BlockToReserve> blocks, ChunkDeclaration[] chunks, TimeSpan timeout,
        BlockReservation[] held, FrameStatus[] statuses)
    {
        var infos = ArrayPool<ChunkInfo>.Shared.Rent(limits.MaxChunksPerBlock);
        try
        {
            for (var i = 0; i < blocks.Length; i++)
            {
                var block = blocks[i];
                held[i] = default;
                if (!TryDeclare(ns, layers, block, chunks, infos, out var id))
                {
                    statuses[i] = FrameStatus.BadRequest;
                    continue;
                }

                statuses[i] = Reserve(id, infos.AsSpan(0, block.ChunkCount), timeout, out held[i]);
            }
        }
        finally
        {
            ArrayPool<ChunkInfo>.Shared.Return(infos);
        }
    }

    private FrameStatus Reserve(in BlockId id, ReadOnlySpan<ChunkInfo> chunks, TimeSpan timeout, out BlockReservation reservation)
    {
        try
        {
            reservation = store.Reserve(id, chunks, timeout);
        }
        catch (ArgumentException error)
        {
            logger.LogInformation("Refused reservation of {Block}: {Reason}", id, error.Message);
            reservation = default;
            return FrameStatus.BadRequest;
        }

        return reservation.Status switch
        {
            ReserveStatus.Reserved => FrameStatus.Ok,
            ReserveStatus.AlreadyPresent => FrameStatus.AlreadyPresent,
            ReserveStatus.Busy => FrameStatus.Busy,
            _ => FrameStatus.NoSpace,
        };
    }

    /// <summary>Receives <paramref name="length"/> bytes into the arena at <paramref name="offset"/>, in pieces no
    /// longer than a chunk (what one arena window can hold past its start).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveAsync(StreamedBody body, long offset, long length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            var piece = (int)Math.Min(length, limits.MaxChunkBytes);
            await body.ReadExactlyAsync(MemoryMarshal.AsMemory(arena.Slice(offset, piece)), cancellationToken);
            offset += piece;
            length -= piece;
        }
    }

    private static long PayloadLength(in BlockToReserve block, ChunkDeclaration[] chunks)
    {
        long length = 0;
        for (var c = 0; c < block.ChunkCount; c++)
        {
            length += chunks[block.FirstChunk + c].Length;
        }

        return length;
    }
}
