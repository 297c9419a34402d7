using System.Buffers;
using System.IO.Hashing;
using KvTier.Core;
using KvTier.Node.Configuration;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;
using StoredExtent = KvTier.Storage.ChunkExtent;
using WireExtent = KvTier.Transport.ChunkExtent;

namespace KvTier.Node.DataPlane;

/// <summary>
/// Serves the data-plane verbs (docs/architecture.md section 6) over one <see cref="IBlockStore"/>. Reads are
/// lease-based: ReadBlocks leases (and so verifies) every chunk and sends it straight from the arena under that lease;
/// a ReadExtents item must name a whole chunk extent of a live lease, and its bytes are copied out of the arena and
/// checked against the chunk's checksum before they are sent. Either way a corrupt block is never served. Writes land
/// only inside a live reservation; the commit verifies them. Shared by every connection; thread-safe.
/// </summary>
public sealed partial class BlockStoreFrameHandler : IFrameHandler
{
    // A write must not race the engine reclaiming its reservation; refuse writes this close to the deadline.
    private static readonly TimeSpan WriteMargin = TimeSpan.FromMilliseconds(500);

    private readonly IBlockStore store;
    private readonly NamespaceRegistry namespaces;
    private readonly NodeOptions options;
    private readonly ILogger logger;
    private readonly FrameLimits limits;
    private readonly HandleTable<WireExtent[]> leases;
    private readonly HandleTable<BlockReservation> reservations;
    private readonly BlockAnchorBook? anchors;
    private readonly ArenaMemory arena;
    private volatile bool draining;

    /// <summary>Creates the handler; <paramref name="clock"/> defaults to the system clock. With an
    /// <paramref name="anchorBook"/>, each reserved block's directory anchor is recorded there so the node can publish
    /// and unpublish the block itself.</summary>
    public BlockStoreFrameHandler(IBlockStore store, NamespaceRegistry namespaces, NodeOptions options, ILogger logger,
        TimeProvider? clock = null, BlockAnchorBook? anchorBook = null)
    {
        anchors = anchorBook;
        this.store = store ?? throw new ArgumentNullException(nameof(store));
        this.namespaces = namespaces ?? throw new ArgumentNullException(nameof(namespaces));
        this.options = options ?? throw new ArgumentNullException(nameof(options));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
        limits = new FrameLimits
        {
            MaxBodyBytes = (int)Math.Min(int.MaxValue, options.DataPlane.MaxFrameBody.Bytes),
            MaxBlocksPerRequest = options.DataPlane.MaxBlocksPerRequest,
        };
        leases = new HandleTable<WireExtent[]>(clock ?? TimeProvider.System);
        reservations = new HandleTable<BlockReservation>(clock ?? TimeProvider.System);
        arena = new ArenaMemory(store.ArenaAddress, store.ArenaLength, limits.MaxChunkBytes);
    }

    /// <summary>The limits this handler enforces (pass the same to the <see cref="FrameServer"/>).</summary>
    public FrameLimits Limits => limits;

    /// <summary>True once <see cref="StartDraining"/> was called: reserves are refused with
    /// <see cref="FrameStatus.Draining"/>; reads, writes and commits of existing reservations continue.</summary>
    public bool Draining => draining;

    /// <summary>Leases handed out over the data plane and not yet released or swept.</summary>
    public int OpenLeases => leases.Count;

    /// <summary>Stops accepting new writes (reservations).</summary>
    public void StartDraining() => draining = true;

    /// <inheritdoc/>
    public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(responder);
        var body = request.Body.Span;
        return request.Header.Opcode switch
        {
            Opcode.Ping => responder.SendAsync(FrameStatus.Ok, ReadOnlyMemory<byte>.Empty, cancellationToken),
            Opcode.LeaseBlocks => LeaseBlocksAsync(body, responder, cancellationToken),
            Opcode.ReadExtents => ReadExtentsAsync(body, responder, cancellationToken),
            Opcode.ReleaseLeases => ReleaseLeasesAsync(body, responder, cancellationToken),
            Opcode.ReserveBlocks => ReserveBlocksAsync(body, responder, cancellationToken),
            Opcode.WriteExtents => WriteExtentsAsync(body, responder, cancellationToken),
            Opcode.CommitBlocks => CommitBlocksAsync(body, responder, cancellationToken),
            Opcode.ContainsBlocks => ContainsBlocksAsync(body, responder, cancellationToken),
            Opcode.ReadBlocks => ReadBlocksAsync(ReadBlocksRequest.Read(body, limits), split: false, responder, cancellationToken),
            Opcode.ReadBlocksSplit => ReadBlocksAsync(ReadBlocksRequest.ReadSplit(body, limits), split: true, responder, cancellationToken),
            Opcode.PutBlocks => PutBufferedAsync(request, responder, cancellationToken),
            Opcode.MapArena => MapArenaAsync(responder, cancellationToken),
            _ => throw new ProtocolViolationException($"Opcode {request.Header.Opcode} is not served by a cache node."),
        };
    }

    private ValueTask LeaseBlocksAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var request = LeaseBlocksRequest.Read(body, limits);
        if (!namespaces.TryGet(request.Namespace, out var kvNamespace))
        {
            return RefuseNamespaceAsync(request.Namespace, responder, cancellationToken);
        }

        var layers = kvNamespace!.Layout.Layers;
        if (request.FirstLayer >= layers || request.FirstLayer + request.LayerCount > layers)
        {
            throw new ProtocolViolationException(
                $"Layer range {request.FirstLayer}+{request.LayerCount} is outside the namespace's {layers} layers.");
        }

        var chunkCount = request.LayerCount == 0 ? layers - request.FirstLayer : request.LayerCount;
        var keys = request.Keys;
        var leaseTime = TimeSpan.FromMilliseconds(Math.Min(request.LeaseMilliseconds, options.Timing.MaxLease.TotalMilliseconds));
        var responseBuffer = ArrayPool<byte>.Shared.Rent(BlockExtentsResponse.MeasureBody(keys.Count, keys.Count * chunkCount));
        var stored = ArrayPool<StoredExtent>.Shared.Rent(chunkCount);
        try
        {
            var writer = new BodyWriter(responseBuffer);
            BlockExtentsResponse.WriteCount(ref writer, keys.Count);
            for (var i = 0; i < keys.Count; i++)
            {
                var deadline = leases.DeadlineAfter(leaseTime);
                var result = store.Read(new BlockId(request.Namespace, keys[i]), request.FirstLayer, chunkCount, leaseTime,
                    stored.AsSpan(0, chunkCount));
                if (result.Status != ReadStatus.Hit)
                {
                    BlockExtentsResponse.WriteBlock(ref writer, ToFrameStatus(result.Status), 0, []);
                    continue;
                }

                var extents = new WireExtent[chunkCount];
                for (var c = 0; c < chunkCount; c++)
                {
                    extents[c] = new WireExtent((ulong)stored[c].ArenaOffset, stored[c].Length, stored[c].Checksum);
                }

                leases.Add(result.LeaseId, extents, deadline);
                BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.Ok, result.LeaseId, extents);
            }

            return SendPooledAsync(responder, responseBuffer, writer.Written, cancellationToken);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(responseBuffer);
            throw;
        }
        finally
        {
            ArrayPool<StoredExtent>.Shared.Return(stored);
        }
    }

    private ValueTask ReadExtentsAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var reader = new BodyReader(body);
        var items = ArrayPool<ExtentIo>.Shared.Rent(Math.Max(1, body.Length / ExtentIo.WireSize));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(items.Length);
        byte[]? responseBuffer = null;
        try
        {
            var count = ExtentIoRequest.ReadHead(ref reader, limits, items, out var totalBytes);
            reader.EnsureFullyRead("ReadExtents");
            var head = StatusBatch.MeasureBody(count);
            if (head + totalBytes > limits.MaxBodyBytes)
            {
                throw new ProtocolViolationException($"ReadExtents asks for {totalBytes} bytes, over the {limits.MaxBodyBytes}-byte body limit.");
            }

            responseBuffer = ArrayPool<byte>.Shared.Rent(head + (int)totalBytes);
            var written = head;
            for (var i = 0; i < count; i++)
            {
                var item = items[i];
                statuses[i] = CopyVerified(item, responseBuffer.AsSpan(written, item.Length));
                if (statuses[i] == FrameStatus.Ok)
                {
                    written += item.Length;
                }
            }

            var writer = new BodyWriter(responseBuffer.AsSpan(0, head));
            StatusBatch.Write(ref writer, statuses.AsSpan(0, count));
            var send = SendPooledAsync(responder, responseBuffer, written, cancellationToken);
            responseBuffer = null;
            return send;
        }
        finally
        {
            if (responseBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(responseBuffer);
            }

            ArrayPool<ExtentIo>.Shared.Return(items);
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    /// <summary>Copies one whole leased chunk out of the arena and checks the copy against the chunk's checksum, so
    /// the bytes sent are exactly the bytes verified even if the arena changed during the copy.</summary>
    private FrameStatus CopyVerified(in ExtentIo item, Span<byte> destination)
    {
        if (!leases.TryGetLive(item.Handle, TimeSpan.Zero, out var extents))
        {
            return FrameStatus.Expired;
        }

        foreach (var extent in extents)
        {
            if (extent.Offset != item.Offset)
            {
                continue;
            }

            if (extent.Length != item.Length)
            {
                return FrameStatus.BadRequest;
            }

            store.ExtentBytes(new StoredExtent((long)extent.Offset, extent.Length, extent.Checksum)).CopyTo(destination);
            if (XxHash3.HashToUInt64(destination) == extent.Checksum)
            {
                return FrameStatus.Ok;
            }

            // A lease that ran out during the copy lets the engine reuse the bytes: that is an expiry, not corruption.
            if (!leases.TryGetLive(item.Handle, TimeSpan.Zero, out _))
            {
                return FrameStatus.Expired;
            }

            logger.LogError("Chunk at arena offset {Offset} ({Length} bytes) failed its checksum under lease {Lease}; not served",
                item.Offset, item.Length, item.Handle);
            return FrameStatus.Corrupt;
        }

        // Not a chunk of this lease: a peer may only read what it was handed.
        return FrameStatus.BadRequest;
    }

    private ValueTask ReleaseLeasesAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var handles = ArrayPool<ulong>.Shared.Rent(Math.Max(1, body.Length / 8));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(handles.Length);
        try
        {
            var count = HandleBatch.Read(body, limits, handles);
            for (var i = 0; i < count; i++)
            {
                var known = leases.TryRemove(handles[i], out _);
                statuses[i] = known && store.ReleaseLease(handles[i]) ? FrameStatus.Ok : FrameStatus.Expired;
            }

            return SendStatusesAsync(responder, statuses.AsSpan(0, count), cancellationToken);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(handles);
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    private ValueTask ReserveBlocksAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        if (draining)
        {
            return responder.SendAsync(FrameStatus.Draining, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }

        var blocks = ArrayPool<BlockToReserve>.Shared.Rent(Math.Max(1, body.Length / ((2 * BlockKey.Size) + 2)));
        var chunks = ArrayPool<ChunkDeclaration>.Shared.Rent(Math.Max(1, body.Length / 12));
        var infos = ArrayPool<ChunkInfo>.Shared.Rent(limits.MaxChunksPerBlock);
        var extents = ArrayPool<WireExtent>.Shared.Rent(limits.MaxChunksPerBlock);
        byte[]? responseBuffer = null;
        try
        {
            var count = ReserveBlocksRequest.Read(body, limits, out var ns, out var timeoutMs, blocks, chunks, out var chunkCount);
            if (!namespaces.TryGet(ns, out var kvNamespace))
            {
                return RefuseNamespaceAsync(ns, responder, cancellationToken);
            }

            var layers = kvNamespace!.Layout.Layers;
            var timeout = TimeSpan.FromMilliseconds(Math.Min(timeoutMs, options.Timing.MaxReservation.TotalMilliseconds));
            responseBuffer = ArrayPool<byte>.Shared.Rent(BlockExtentsResponse.MeasureBody(count, chunkCount));
            var writer = new BodyWriter(responseBuffer);
            BlockExtentsResponse.WriteCount(ref writer, count);
            for (var i = 0; i < count; i++)
            {
                var block = blocks[i];
                if (!TryDeclare(ns, layers, block, chunks, infos, out var id))
                {
                    BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.BadRequest, 0, []);
                    continue;
                }

                ReserveOne(id, infos.AsSpan(0, block.ChunkCount), timeout, extents, ref writer);
            }

            var send = SendPooledAsync(responder, responseBuffer, writer.Written, cancellationToken);
            responseBuffer = null;
            return send;
        }
        finally
        {
            if (responseBuffer is not null)
            {
                ArrayPool<byte>.Shared.Return(responseBuffer);
            }

            ArrayPool<BlockToReserve>.Shared.Return(blocks);
            ArrayPool<ChunkDeclaration>.Shared.Return(chunks);
            ArrayPool<ChunkInfo>.Shared.Return(infos);
            ArrayPool<WireExtent>.Shared.Return(extents);
        }
    }

    /// <summary>Checks a block's shape (one chunk per layer: a block of another shape could never be read by layer
    /// range), copies its chunk declarations into <paramref name="infos"/> and keeps its directory anchor (the node
    /// publishes and unpublishes the block itself once committed or evicted); false when the shape is wrong.</summary>
    private bool TryDeclare(NamespaceId ns, int layers, in BlockToReserve block, ReadOnlySpan<ChunkDeclaration> chunks, ChunkInfo[] infos,
        out BlockId id)
    {
        id = new BlockId(ns, block.Key);
        if (block.ChunkCount != layers)
        {
            logger.LogInformation("Refused block {Key}: {Chunks} chunks, the namespace has {Layers} layers", block.Key, block.ChunkCount, layers);
            return false;
        }

        for (var c = 0; c < block.ChunkCount; c++)
        {
            var declared = chunks[block.FirstChunk + c];
            infos[c] = new ChunkInfo(declared.Length, declared.Checksum);
        }

        anchors?.Record(id, block.Anchor);
        return true;
    }

    private void ReserveOne(in BlockId id, ReadOnlySpan<ChunkInfo> chunks, TimeSpan timeout, WireExtent[] extents, ref BodyWriter writer)
    {
        var deadline = reservations.DeadlineAfter(timeout);
        BlockReservation reservation;
        try
        {
            reservation = store.Reserve(id, chunks, timeout);
        }
        catch (ArgumentException error)
        {
            logger.LogInformation("Refused reservation of {Block}: {Reason}", id, error.Message);
            BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.BadRequest, 0, []);
            return;
        }

        if (reservation.Status != ReserveStatus.Reserved)
        {
            var status = reservation.Status switch
            {
                ReserveStatus.AlreadyPresent => FrameStatus.AlreadyPresent,
                ReserveStatus.Busy => FrameStatus.Busy,
                _ => FrameStatus.NoSpace,
            };
            BlockExtentsResponse.WriteBlock(ref writer, status, 0, []);
            return;
        }

        var offset = (ulong)reservation.DataOffset;
        for (var c = 0; c < chunks.Length; c++)
        {
            extents[c] = new WireExtent(offset, chunks[c].Length, chunks[c].Checksum);
            offset += (ulong)chunks[c].Length;
        }

        reservations.Add(reservation.Id, reservation, deadline);
        BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.Ok, reservation.Id, extents.AsSpan(0, chunks.Length));
    }

    private ValueTask WriteExtentsAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var reader = new BodyReader(body);
        var items = ArrayPool<ExtentIo>.Shared.Rent(Math.Max(1, body.Length / ExtentIo.WireSize));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(items.Length);
        try
        {
            var count = ExtentIoRequest.ReadHead(ref reader, limits, items, out var totalBytes);
            if (totalBytes != reader.Remaining)
            {
                throw new ProtocolViolationException($"WriteExtents declares {totalBytes} bytes but carries {reader.Remaining}.");
            }

            for (var i = 0; i < count; i++)
            {
                var item = items[i];
                statuses[i] = WriteOne(item, reader.ReadBytes(item.Length, "extent bytes"));
            }

            return SendStatusesAsync(responder, statuses.AsSpan(0, count), cancellationToken);
        }
        finally
        {
            ArrayPool<ExtentIo>.Shared.Return(items);
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    private FrameStatus WriteOne(in ExtentIo item, ReadOnlySpan<byte> bytes)
    {
        if (!reservations.TryGetLive(item.Handle, WriteMargin, out var reservation))
        {
            return FrameStatus.Expired;
        }

        var start = (long)item.Offset - reservation.DataOffset;
        if (item.Offset > long.MaxValue || start < 0 || start + item.Length > reservation.DataLength)
        {
            return FrameStatus.BadRequest;
        }

        bytes.CopyTo(store.ReservedBytes(reservation).Slice((int)start, item.Length));
        return FrameStatus.Ok;
    }

    private ValueTask CommitBlocksAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var handles = ArrayPool<ulong>.Shared.Rent(Math.Max(1, body.Length / 8));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(handles.Length);
        try
        {
            var count = HandleBatch.Read(body, limits, handles);
            for (var i = 0; i < count; i++)
            {
                if (!reservations.TryRemove(handles[i], out var reservation))
                {
                    statuses[i] = FrameStatus.Expired;
                    continue;
                }

                statuses[i] = store.Commit(reservation).Status switch
                {
                    CommitStatus.Committed => FrameStatus.Ok,
                    CommitStatus.ChecksumMismatch => FrameStatus.Corrupt,
                    _ => FrameStatus.Expired,
                };
            }

            return SendStatusesAsync(responder, statuses.AsSpan(0, count), cancellationToken);
        }
        finally
        {
            ArrayPool<ulong>.Shared.Return(handles);
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    private ValueTask ContainsBlocksAsync(ReadOnlySpan<byte> body, FrameResponder responder, CancellationToken cancellationToken)
    {
        var keys = ContainsBlocksRequest.Read(body, limits, out var ns);
        if (!namespaces.Contains(ns))
        {
            return RefuseNamespaceAsync(ns, responder, cancellationToken);
        }

        var ids = ArrayPool<BlockId>.Shared.Rent(Math.Max(1, keys.Count));
        var present = ArrayPool<bool>.Shared.Rent(Math.Max(1, keys.Count));
        var responseBuffer = ArrayPool<byte>.Shared.Rent(4 + keys.Count);
        try
        {
            for (var i = 0; i < keys.Count; i++)
            {
                ids[i] = new BlockId(ns, keys[i]);
            }

            store.Exists(ids.AsSpan(0, keys.Count), present.AsSpan(0, keys.Count));
            var writer = new BodyWriter(responseBuffer);
            writer.WriteInt32(keys.Count);
            for (var i = 0; i < keys.Count; i++)
            {
                writer.WriteByte(present[i] ? (byte)1 : (byte)0);
            }

            return SendPooledAsync(responder, responseBuffer, writer.Written, cancellationToken);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(responseBuffer);
            throw;
        }
        finally
        {
            ArrayPool<BlockId>.Shared.Return(ids);
            ArrayPool<bool>.Shared.Return(present);
        }
    }

    private ValueTask RefuseNamespaceAsync(NamespaceId ns, FrameResponder responder, CancellationToken cancellationToken)
    {
        logger.LogInformation("Refused a data-plane request for unknown namespace {Namespace}", ns);
        return responder.SendAsync(FrameStatus.UnknownNamespace, ReadOnlyMemory<byte>.Empty, cancellationToken);
    }

    private static ValueTask SendStatusesAsync(FrameResponder responder, ReadOnlySpan<FrameStatus> statuses, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(StatusBatch.MeasureBody(statuses.Length));
        var writer = new BodyWriter(buffer);
        StatusBatch.Write(ref writer, statuses);
        return SendPooledAsync(responder, buffer, writer.Written, cancellationToken);
    }

    /// <summary>Sends a pooled buffer and returns it to the pool once the send completes.</summary>
    private static async ValueTask SendPooledAsync(FrameResponder responder, byte[] buffer, int length, CancellationToken cancellationToken)
    {
        try
        {
            await responder.SendAsync(FrameStatus.Ok, buffer.AsMemory(0, length), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static FrameStatus ToFrameStatus(ReadStatus status) => status switch
    {
        ReadStatus.Miss => FrameStatus.NotFound,
        ReadStatus.Corrupt => FrameStatus.Corrupt,
        ReadStatus.InvalidRange => FrameStatus.BadRequest,
        ReadStatus.NoSpace => FrameStatus.NoSpace,
        _ => FrameStatus.InternalError,
    };
}
