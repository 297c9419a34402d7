using System.Runtime.InteropServices;
using Grpc.Core;
using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Rdma;
using KvTier.Transport;
using KvTier.Transport.Messages;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>
/// A node's data plane over RDMA where both ends can, TCP otherwise. The first read decides: with a usable local
/// device the channel exchanges queue pairs with the node (ConnectRdma); a node that refuses (no device:
/// FAILED_PRECONDITION) or an exchange that fails makes the channel TCP for good, said once in the log (with
/// <see cref="DataPlaneTransportMode.RequireRdma"/> it fails the node instead). Over RDMA a read leases the blocks over
/// TCP (LeaseBlocks), READs the leased extents one-sidedly into a registered staging buffer, checks each chunk's
/// XXH3-64 from the lease, hands the verified chunks to the receiver (which checks the codec header checksum again
/// and decodes), and releases the leases. A failed transfer (error completion, checksum mismatch) fails its block
/// only; the extent reader reconnects the queue pair after an error. Stores reserve over TCP, write the chunks with
/// one-sided RDMA WRITEs into the reserved extents and commit over TCP.
/// </summary>
internal sealed class RdmaNodeChannel : INodeChannel
{
    private const int Undecided = 0;
    private const int UsingTcp = 1;
    private const int UsingRdma = 2;

    private readonly NodeInfo node;
    private readonly NodeConnectionPool pool;
    private readonly TcpNodeChannel tcp;
    private readonly NodeChannelFactory factory;
    private readonly RdmaConnector connector;
    private readonly IDisposable? connectorOwner;
    private readonly KvTierClientOptions options;
    private readonly ILogger logger;
    private readonly SemaphoreSlim deciding = new(1, 1);

    // One read at a time owns the staging buffer from its READs until its chunks are handed over.
    private readonly SemaphoreSlim staging = new(1, 1);
    private int state;
    private RdmaExtentReader? reader;
    private RdmaMemoryRegion? stagingRegion;
    private nint stagingMemory;
    private long chunksOverRdma;
    private long chunksDirect;
    private long failedTransfers;
    private long chunksWritten;
    private bool disposed;

    public RdmaNodeChannel(NodeInfo node, NodeConnectionPool pool, TcpNodeChannel tcp, NodeChannelFactory factory, RdmaConnector connector,
        IDisposable? connectorOwner, KvTierClientOptions options, ILogger logger)
    {
        this.node = node;
        this.pool = pool;
        this.tcp = tcp;
        this.factory = factory;
        this.connector = connector;
        this.connectorOwner = connectorOwner;
        this.options = options;
        this.logger = logger;
    }

    public string Peer => tcp.Peer;

    public int ReadParallelism => tcp.ReadParallelism;

    /// <summary>The transport in use; null until the first read decided it.</summary>
    public DataPlaneTransport? Transport => Volatile.Read(ref state) switch
    {
        UsingTcp => DataPlaneTransport.Tcp,
        UsingRdma => DataPlaneTransport.Rdma,
        _ => null,
    };

    /// <summary>Why the channel uses its transport (the line it logged).</summary>
    public string? TransportReason { get; private set; }

    /// <summary>Chunks read over RDMA and verified.</summary>
    public long ChunksReadOverRdma => Interlocked.Read(ref chunksOverRdma);

    /// <summary>Chunks read over RDMA straight into a direct load target (device memory; not verified by this CPU).</summary>
    public long ChunksReadDirect => Interlocked.Read(ref chunksDirect);

    /// <summary>Chunks written over RDMA into reserved extents.</summary>
    public long ChunksWrittenOverRdma => Interlocked.Read(ref chunksWritten);

    /// <summary>Transfers that failed (error completion, out of range, checksum mismatch).</summary>
    public long FailedTransfers => Interlocked.Read(ref failedTransfers);

    /// <summary>Queue-pair reconnects after errors.</summary>
    public long Reconnects => reader?.Reconnects ?? 0;

    public async ValueTask ReadBlocksAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        if (await UseRdmaAsync(cancellationToken))
        {
            if (receiver is IDirectReadReceiver { Direct: { } target } direct)
            {
                await ReadDirectAsync(request, direct, target, cancellationToken);
            }
            else
            {
                await ReadOverRdmaAsync(request, receiver, cancellationToken);
            }
        }
        else
        {
            await tcp.ReadBlocksAsync(request, receiver, cancellationToken);
        }
    }

    /// <summary>Over RDMA: ReserveBlocks over TCP, the chunks copied into the registered staging buffer and written
    /// into the reserved extents with one-sided RDMA WRITEs, then CommitBlocks over TCP (the node checks every chunk's
    /// checksum as it commits). A store larger than the staging buffer, or on a TCP channel, goes over TCP.</summary>
    public async ValueTask StoreBlocksAsync(BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var chunk in request.Chunks.Span)
        {
            total += chunk.Length;
        }

        if (total <= options.RdmaStagingBytes && await UseRdmaAsync(cancellationToken))
        {
            await StoreOverRdmaAsync(request, total, outcomes, cancellationToken);
        }
        else
        {
            await tcp.StoreBlocksAsync(request, outcomes, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await staging.WaitAsync();
        try
        {
            disposed = true;
            ReleaseRdma();
            connectorOwner?.Dispose();
        }
        finally
        {
            staging.Release();
        }

        await tcp.DisposeAsync();
    }

    /// <summary>Whether this channel moves bytes over RDMA (decided on the first call: the queue pairs are exchanged
    /// then).</summary>
    /// <exception cref="IOException">RequireRdma, and RDMA cannot be established with this node.</exception>
    public ValueTask<bool> UsesRdmaAsync(CancellationToken cancellationToken) => UseRdmaAsync(cancellationToken);

    /// <summary>Registers <paramref name="target"/> with this channel's device (once per device) and returns the region.</summary>
    /// <exception cref="RdmaException">It cannot be registered.</exception>
    public RdmaDestination RegisterDirect(DirectLoadTarget target) => target.RegionOn(factory.Context);

    /// <exception cref="IOException">RequireRdma, and RDMA cannot be established with this node.</exception>
    private async ValueTask<bool> UseRdmaAsync(CancellationToken cancellationToken)
    {
        var now = Volatile.Read(ref state);
        if (now != Undecided)
        {
            return now == UsingRdma;
        }

        await deciding.WaitAsync(cancellationToken);
        try
        {
            if (state != Undecided)
            {
                return state == UsingRdma;
            }

            var local = factory.Local;
            if (!local.IsAvailable)
            {
                Decide(UsingTcp, DataPlaneTransportChoice.Choose(local, nodeOffersRdma: false, null).Reason, LogLevel.Information);
                return false;
            }

            string reason;
            try
            {
                await ConnectAsync(cancellationToken);
                var arena = reader!.RemoteArena!.Value;
                Decide(UsingRdma, $"{DataPlaneTransportChoice.Choose(local, nodeOffersRdma: true, null).Reason}; queue pair " +
                    $"{arena.Endpoint.QueuePairNumber} on the node, {arena.Length}-byte arena", LogLevel.Information);
                return true;
            }
            catch (RpcException refused) when (refused.StatusCode == StatusCode.FailedPrecondition)
            {
                reason = DataPlaneTransportChoice.Choose(local, nodeOffersRdma: false, refused.Status.Detail).Reason;
            }
            catch (Exception error) when (error is RpcException or RdmaException or ArgumentException
                || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                reason = $"TCP: RDMA could not be established with the node ({error.GetType().Name}: {error.Message})";
            }

            ReleaseRdma();
            if (options.Transport == DataPlaneTransportMode.RequireRdma)
            {
                // Not decided: the next read tries again (the node may gain its device back after a restart).
                throw new IOException($"Node {node.Id} ({Peer}): Transport is RequireRdma, but {reason}.");
            }

            Decide(UsingTcp, reason, LogLevel.Warning);
            return false;
        }
        finally
        {
            deciding.Release();
        }
    }

    private async ValueTask ConnectAsync(CancellationToken cancellationToken)
    {
        var context = factory.Context;
        stagingMemory = NativeMemoryAlloc((nuint)options.RdmaStagingBytes);
        stagingRegion = context.RegisterMemory(stagingMemory, (ulong)options.RdmaStagingBytes, RdmaAccess.LocalWrite);
        reader = new RdmaExtentReader(context, RdmaDestination.Host(stagingRegion), connector,
            new RdmaReaderOptions { CompletionTimeout = options.RequestTimeout });
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.RequestTimeout);
        await reader.ConnectAsync(timeout.Token);
    }

    private void Decide(int transport, string reason, LogLevel level)
    {
        TransportReason = reason;
        Volatile.Write(ref state, transport);
        logger.Log(level, "Data plane of node {NodeId} ({Peer}): {Transport}", node.Id, Peer, reason);
    }

    /// <summary>Leases the request's blocks over a pooled TCP connection; null (every block answered with the node's
    /// status) when the node refused the whole request.</summary>
    private async ValueTask<(Transport.Tcp.FrameConnection Connection, (BlockExtents[] Blocks, ChunkExtent[] Extents)? Lease)> LeaseAsync(
        BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        var connection = await pool.GetAsync(cancellationToken);
        try
        {
            return (connection, await LeaseCalls.LeaseAsync(connection, options.Limits, request, options.LeaseDuration, cancellationToken));
        }
        catch (NodeRequestException refused)
        {
            for (var b = 0; b < request.Keys.Length; b++)
            {
                receiver.BlockAnswered(b, refused.Status);
            }

            return (connection, null);
        }
    }

    private async ValueTask ReadOverRdmaAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        var (connection, lease) = await LeaseAsync(request, receiver, cancellationToken);
        if (lease is not { } granted)
        {
            return;
        }

        var (blocks, extents) = granted;
        var leases = blocks.Where(b => b.Status == FrameStatus.Ok).Select(b => b.Handle).ToArray();
        await staging.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var next = 0;
            while (next < blocks.Length && !receiver.Abandoned.IsCancellationRequested)
            {
                next = await ReadGroupAsync(request, blocks, extents, next, receiver, cancellationToken);
            }
        }
        catch (Exception error) when (error is RpcException or RdmaException or ArgumentException)
        {
            // The queue pair could not be reconnected: the node is unreachable over RDMA for this load.
            throw new IOException($"Node {node.Id} ({Peer}): RDMA read failed: {error.Message}", error);
        }
        finally
        {
            staging.Release();
            await ReleaseAsync(connection, leases);
        }
    }

    /// <summary>A direct read: leases over TCP, then for each layer in turn one batch of RDMA READs of every block's
    /// payload (the chunk after its codec header) straight into the target's registered memory, so layer i is
    /// complete, and reported, while later layers are still being read. Nothing is staged or copied by the CPU.</summary>
    private async ValueTask ReadDirectAsync(BlockRead request, IDirectReadReceiver receiver, DirectLoadTarget target,
        CancellationToken cancellationToken)
    {
        RdmaDestination region;
        try
        {
            region = RegisterDirect(target);
        }
        catch (Exception error) when (error is RdmaException or ArgumentException)
        {
            throw new IOException($"Node {node.Id} ({Peer}): the direct load target cannot be registered: {error.Message}", error);
        }

        var (connection, lease) = await LeaseAsync(request, receiver, cancellationToken);
        if (lease is not { } granted)
        {
            return;
        }

        var (blocks, extents) = granted;
        var leases = blocks.Where(b => b.Status == FrameStatus.Ok).Select(b => b.Handle).ToArray();
        var usable = new bool[blocks.Length];
        for (var b = 0; b < blocks.Length; b++)
        {
            var status = blocks[b].Status == FrameStatus.Ok && blocks[b].ExtentCount != request.LayerCount ? FrameStatus.BadRequest : blocks[b].Status;
            usable[b] = status == FrameStatus.Ok;
            receiver.BlockAnswered(b, status);
        }

        var transfers = new RdmaExtentTransfer[blocks.Length];
        var owners = new int[blocks.Length];
        var statuses = new RdmaTransferStatus[blocks.Length];
        try
        {
            for (var layer = 0; layer < request.LayerCount && !receiver.Abandoned.IsCancellationRequested; layer++)
            {
                var count = 0;
                for (var b = 0; b < blocks.Length; b++)
                {
                    if (!usable[b])
                    {
                        continue;
                    }

                    var extent = extents[blocks[b].FirstExtent + layer];
                    if (!receiver.TryPlaceDirect(b, layer, extent.Length, out var offset))
                    {
                        usable[b] = false;
                        receiver.ChunkDelivered(b, layer, false, $"a {extent.Length}-byte chunk does not fit the target's layout");
                        continue;
                    }

                    owners[count] = b;
                    transfers[count++] = new RdmaExtentTransfer(extent.Offset + (ulong)ChunkHeader.Size, (uint)(extent.Length - ChunkHeader.Size),
                        offset, extent.Checksum);
                }

                if (count == 0)
                {
                    break;
                }

                var summary = await reader!.ReadAsync(region, transfers.AsMemory(0, count), statuses, cancellationToken);
                if (summary.Failed > 0)
                {
                    Interlocked.Add(ref failedTransfers, summary.Failed);
                    logger.LogWarning("Node {NodeId}: {Failed} of {Count} direct RDMA reads of layer {Layer} failed (first: {Failure})", node.Id,
                        summary.Failed, count, request.FirstLayer + layer, summary.FirstFailure);
                }

                for (var i = 0; i < count; i++)
                {
                    var delivered = statuses[i] == RdmaTransferStatus.Delivered;
                    usable[owners[i]] &= delivered;
                    receiver.ChunkDelivered(owners[i], layer, delivered, delivered ? null : statuses[i].ToString());
                }

                Interlocked.Add(ref chunksDirect, summary.Succeeded);
            }
        }
        catch (Exception error) when (error is RpcException or RdmaException or ArgumentException)
        {
            throw new IOException($"Node {node.Id} ({Peer}): direct RDMA read failed: {error.Message}", error);
        }
        finally
        {
            await ReleaseAsync(connection, leases);
        }
    }

    /// <summary>Reads the blocks from <paramref name="first"/> whose chunks fit the staging buffer together, answers
    /// them and hands their verified chunks over (layer-major); returns the first block not answered.</summary>
    private async ValueTask<int> ReadGroupAsync(BlockRead request, BlockExtents[] blocks, ChunkExtent[] extents, int first,
        IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        var capacity = (ulong)options.RdmaStagingBytes;
        var transfers = new List<RdmaExtentTransfer>();
        var answers = new FrameStatus[blocks.Length];
        var firstTransfer = new int[blocks.Length];
        ulong used = 0;
        var end = first;
        for (; end < blocks.Length; end++)
        {
            var block = blocks[end];
            answers[end] = block.Status;
            if (block.Status != FrameStatus.Ok)
            {
                continue;
            }

            if (block.ExtentCount != request.LayerCount)
            {
                answers[end] = FrameStatus.BadRequest;
                logger.LogWarning("Node {NodeId} leased {Extents} extents of block {Block} for {Layers} layers", node.Id, block.ExtentCount, end,
                    request.LayerCount);
                continue;
            }

            ulong bytes = 0;
            for (var c = 0; c < block.ExtentCount; c++)
            {
                bytes += (ulong)extents[block.FirstExtent + c].Length;
            }

            if (bytes > capacity)
            {
                answers[end] = FrameStatus.InternalError;
                logger.LogWarning("Block {Block} of node {NodeId} ({Bytes} bytes) does not fit the {Staging}-byte RDMA staging buffer " +
                    "(RdmaStagingBytes)", end, node.Id, bytes, capacity);
                continue;
            }

            if (used + bytes > capacity)
            {
                break;
            }

            firstTransfer[end] = transfers.Count;
            for (var c = 0; c < block.ExtentCount; c++)
            {
                var extent = extents[block.FirstExtent + c];
                transfers.Add(new RdmaExtentTransfer(extent.Offset, (uint)extent.Length, used, extent.Checksum));
                used += (ulong)extent.Length;
            }
        }

        var statuses = new RdmaTransferStatus[transfers.Count];
        if (transfers.Count > 0)
        {
            var summary = await reader!.ReadAsync(transfers.ToArray(), statuses, cancellationToken);
            if (summary.Failed > 0)
            {
                Interlocked.Add(ref failedTransfers, summary.Failed);
                logger.LogWarning("Node {NodeId}: {Failed} of {Count} RDMA reads failed (first: {Failure}); their blocks fail, the rest load",
                    node.Id, summary.Failed, transfers.Count, summary.FirstFailure);
            }
        }

        Deliver(request.LayerCount, answers, firstTransfer, transfers, statuses, first, end, receiver);
        return end;
    }

    private unsafe void Deliver(int layers, FrameStatus[] answers, int[] firstTransfer, List<RdmaExtentTransfer> transfers,
        RdmaTransferStatus[] statuses, int first, int end, IBlockReadReceiver receiver)
    {
        for (var b = first; b < end; b++)
        {
            if (answers[b] == FrameStatus.Ok)
            {
                for (var c = 0; c < layers && answers[b] == FrameStatus.Ok; c++)
                {
                    answers[b] = statuses[firstTransfer[b] + c] switch
                    {
                        RdmaTransferStatus.Verified => FrameStatus.Ok,
                        RdmaTransferStatus.ChecksumMismatch => FrameStatus.Corrupt,
                        _ => FrameStatus.InternalError,
                    };
                }
            }

            receiver.BlockAnswered(b, answers[b]);
        }

        for (var layer = 0; layer < layers; layer++)
        {
            for (var b = first; b < end; b++)
            {
                if (answers[b] != FrameStatus.Ok)
                {
                    continue;
                }

                if (receiver.Abandoned.IsCancellationRequested)
                {
                    return;
                }

                var transfer = transfers[firstTransfer[b] + layer];
                receiver.ChunkReceived(b, layer, new ReadOnlySpan<byte>((byte*)stagingMemory + transfer.LocalOffset, (int)transfer.Length));
                Interlocked.Increment(ref chunksOverRdma);
            }
        }
    }

    private async ValueTask StoreOverRdmaAsync(BlockWrite request, long total, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        var blockCount = request.Blocks.Length;
        if (outcomes.Length < blockCount)
        {
            throw new ArgumentException($"{blockCount} blocks need as many outcomes, got room for {outcomes.Length}.", nameof(outcomes));
        }

        var connection = await pool.GetAsync(cancellationToken);
        if (await DataPlaneCalls.TryReserveAsync(connection, options.Limits, request, outcomes, cancellationToken) is not { } reservation)
        {
            return;
        }

        var (reserved, extents) = reservation;

        var transfers = new List<RdmaExtentTransfer>();
        var firstTransfer = new int[blockCount];
        for (var i = 0; i < blockCount; i++)
        {
            var block = request.Blocks.Span[i];
            var ok = reserved[i].Status == FrameStatus.Ok && reserved[i].ExtentCount == block.ChunkCount;
            outcomes.Span[i] = ok ? FrameStatus.Ok : reserved[i].Status == FrameStatus.Ok ? FrameStatus.BadRequest : reserved[i].Status;
            firstTransfer[i] = transfers.Count;
            for (var c = 0; ok && c < block.ChunkCount; c++)
            {
                var extent = extents[reserved[i].FirstExtent + c];
                transfers.Add(new RdmaExtentTransfer(extent.Offset, (uint)extent.Length, 0, 0));
            }
        }

        if (transfers.Count == 0)
        {
            return;
        }

        var statuses = new RdmaTransferStatus[transfers.Count];
        await staging.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            var chunkOffsets = CopyIntoStaging(request, total);
            for (var i = 0; i < blockCount; i++)
            {
                var block = request.Blocks.Span[i];
                for (var c = 0; outcomes.Span[i] == FrameStatus.Ok && c < block.ChunkCount; c++)
                {
                    var t = transfers[firstTransfer[i] + c];
                    transfers[firstTransfer[i] + c] = t.Length == (uint)request.Chunks.Span[block.FirstChunk + c].Length
                        ? t with { LocalOffset = chunkOffsets[block.FirstChunk + c] }
                        : t with { Length = 0 }; // the node reserved another size: refused by the reader, the block fails
                }
            }

            var summary = await reader!.WriteAsync(transfers.ToArray(), statuses, cancellationToken);
            Interlocked.Add(ref chunksWritten, summary.Succeeded);
            if (summary.Failed > 0)
            {
                Interlocked.Add(ref failedTransfers, summary.Failed);
                logger.LogWarning("Node {NodeId}: {Failed} of {Count} RDMA writes failed (first: {Failure}); their blocks are not committed",
                    node.Id, summary.Failed, transfers.Count, summary.FirstFailure);
            }
        }
        catch (Exception error) when (error is RpcException or RdmaException)
        {
            throw new IOException($"Node {node.Id} ({Peer}): RDMA write failed: {error.Message}", error);
        }
        finally
        {
            staging.Release();
        }

        var handles = new List<ulong>();
        for (var i = 0; i < blockCount; i++)
        {
            if (outcomes.Span[i] != FrameStatus.Ok)
            {
                continue;
            }

            var written = true;
            for (var c = 0; c < request.Blocks.Span[i].ChunkCount; c++)
            {
                written &= statuses[firstTransfer[i] + c] == RdmaTransferStatus.Delivered;
            }

            if (written)
            {
                handles.Add(reserved[i].Handle);
            }
            else
            {
                outcomes.Span[i] = FrameStatus.InternalError; // not committed; the node reclaims the reservation
            }
        }

        if (handles.Count == 0)
        {
            return;
        }

        var committed = await DataPlaneCalls.CommitAsync(connection, [.. handles], cancellationToken);
        var h = 0;
        for (var i = 0; i < blockCount; i++)
        {
            if (outcomes.Span[i] == FrameStatus.Ok)
            {
                outcomes.Span[i] = committed[h++];
            }
        }
    }

    /// <summary>Copies the payload segments back to back into the staging buffer; returns each chunk's offset there.</summary>
    /// <exception cref="ArgumentException">The segments do not add up to the declared chunks.</exception>
    private unsafe ulong[] CopyIntoStaging(BlockWrite request, long total)
    {
        var destination = new Span<byte>((void*)stagingMemory, options.RdmaStagingBytes);
        var written = 0;
        foreach (var segment in request.Payloads.Span)
        {
            if (segment.Length > total - written)
            {
                throw new ArgumentException($"The payload segments hold more than the {total} bytes the chunks declare.", nameof(request));
            }

            segment.Span.CopyTo(destination[written..]);
            written += segment.Length;
        }

        if (written != total)
        {
            throw new ArgumentException($"The payload segments hold {written} bytes; the chunks declare {total}.", nameof(request));
        }

        var chunks = request.Chunks.Span;
        var offsets = new ulong[chunks.Length];
        ulong next = 0;
        for (var c = 0; c < chunks.Length; c++)
        {
            offsets[c] = next;
            next += (ulong)chunks[c].Length;
        }

        return offsets;
    }

    private ValueTask ReleaseAsync(Transport.Tcp.FrameConnection connection, ulong[] leases) =>
        LeaseCalls.ReleaseQuietlyAsync(connection, leases, logger, node.Id, options.LeaseDuration);

    private void ReleaseRdma()
    {
        reader?.Dispose();
        reader = null;
        stagingRegion?.Dispose();
        stagingRegion = null;
        if (stagingMemory != 0)
        {
            NativeMemoryFree(stagingMemory);
            stagingMemory = 0;
        }
    }

    private static unsafe nint NativeMemoryAlloc(nuint bytes) => (nint)NativeMemory.AlignedAlloc(bytes, 4096);

    private static unsafe void NativeMemoryFree(nint memory) => NativeMemory.AlignedFree((void*)memory);
}
