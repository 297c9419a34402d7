using System.Buffers;
using System.Text;
using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>
/// A node on this host that shares its arena (SharedMemory:Directory), reached through its mapped arena file. Loads
/// lease the blocks over TCP, copy each leased chunk out of the mapping into the caller's buffer and verify it against
/// its codec checksum (a <c>none</c> payload into its slot, hashed in the same pass as the copy; others into staging,
/// then verified and decoded), and release the leases: no socket carries block bytes and the node's CPU copies
/// nothing. Stores go through the mapping too where the node allows writes (SharedMemory:AllowWrites) and this process
/// may write the file: reserve over TCP, copy each chunk into its reserved extent, commit over TCP (the node verifies
/// every chunk as it commits), as RDMA WRITEs would. The first load or store decides: a node that does not share its
/// arena, or whose file this process cannot open (another host, another container, no permission), is served by
/// <see cref="Inner"/> (RDMA or TCP) for good, said once in the log; so are stores to a read-only mapping, and direct
/// GPU loads always.
/// </summary>
internal sealed class SharedMemoryNodeChannel(NodeInfo node, NodeConnectionPool pool, INodeChannel inner, KvTierClientOptions options,
    ILogger logger) : INodeChannel
{
    private const int Undecided = 0;
    private const int UsingInner = 1;
    private const int UsingSharedMemory = 2;

    private readonly SemaphoreSlim mapping = new(1, 1);
    private SharedArenaMapping? current;
    private int state;
    private long chunksCopied;
    private long chunksWritten;
    private long remaps;

    /// <summary>The channel loads go through when the arena is not shared with this process.</summary>
    public INodeChannel Inner => inner;

    public string Peer => inner.Peer;

    public int ReadParallelism => inner.ReadParallelism;

    /// <summary>Shared memory once a load mapped the arena; null until the first load decided (see
    /// <see cref="UsesInner"/> for a node whose loads go through <see cref="Inner"/>).</summary>
    public Rdma.DataPlaneTransport? Transport => Volatile.Read(ref state) == UsingSharedMemory ? Rdma.DataPlaneTransport.SharedMemory : null;

    /// <summary>True once the first load found that the arena cannot be mapped: <see cref="Inner"/> carries the loads.</summary>
    public bool UsesInner => Volatile.Read(ref state) == UsingInner;

    /// <summary>Chunks copied out of the shared arena and handed over for verification.</summary>
    public long ChunksCopied => Interlocked.Read(ref chunksCopied);

    /// <summary>Chunks copied into reserved extents through a writable mapping.</summary>
    public long ChunksWritten => Interlocked.Read(ref chunksWritten);

    /// <summary>Times the arena was mapped again because the node restarted.</summary>
    public long Remaps => Interlocked.Read(ref remaps);

    public async ValueTask ReadBlocksAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref state) == UsingInner || receiver is IDirectReadReceiver { Direct: not null })
        {
            await inner.ReadBlocksAsync(request, receiver, cancellationToken);
            return;
        }

        var connection = await pool.GetAsync(cancellationToken);
        var arena = await MappingForAsync(connection, cancellationToken);
        if (arena is null)
        {
            await inner.ReadBlocksAsync(request, receiver, cancellationToken);
            return;
        }

        try
        {
            await ReadMappedAsync(connection, arena, request, receiver, cancellationToken);
        }
        finally
        {
            arena.Release();
        }
    }

    public async ValueTask StoreBlocksAsync(BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref state) != UsingInner)
        {
            var connection = await pool.GetAsync(cancellationToken);
            var arena = await MappingForAsync(connection, cancellationToken);
            if (arena is not null)
            {
                try
                {
                    if (arena.Writable)
                    {
                        await StoreMappedAsync(connection, arena, request, outcomes, cancellationToken);
                        return;
                    }
                }
                finally
                {
                    arena.Release();
                }
            }
        }

        await inner.StoreBlocksAsync(request, outcomes, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await mapping.WaitAsync();
        try
        {
            current?.Release();
            current = null;
        }
        finally
        {
            mapping.Release();
        }

        await inner.DisposeAsync();
    }

    /// <summary>The mapping for the node run <paramref name="connection"/> reaches, with a reference taken; null when
    /// loads go through the inner channel. Maps on the first load, and again when the node restarted (its connections
    /// name a new run, and it shares a new file).</summary>
    private async ValueTask<SharedArenaMapping?> MappingForAsync(FrameConnection connection, CancellationToken cancellationToken)
    {
        var mapped = Volatile.Read(ref current);
        if (mapped is not null && mapped.Peer == connection.PeerInstance && mapped.TryAcquire())
        {
            return mapped;
        }

        await mapping.WaitAsync(cancellationToken);
        try
        {
            if (state == UsingInner)
            {
                return null;
            }

            if (current is not null && current.Peer == connection.PeerInstance && current.TryAcquire())
            {
                return current;
            }

            var (fresh, reason) = await TryMapAsync(connection, cancellationToken);
            if (fresh is null)
            {
                // First load: the node does not share with this process. Later: it restarted without sharing, or its new
                // file cannot be opened. Either way the inner channel carries the loads from now on, said once.
                var before = state;
                current?.Release();
                current = null;
                Decide(UsingInner, $"{reason}; loads use {inner.GetType().Name.Replace("NodeChannel", "", StringComparison.Ordinal)}",
                    before == Undecided ? LogLevel.Information : LogLevel.Warning);
                return null;
            }

            if (current is not null)
            {
                Interlocked.Increment(ref remaps);
                current.Release();
            }

            current = fresh;
            if (state == Undecided)
            {
                Decide(UsingSharedMemory, $"shared memory: {fresh.Answer.Path} ({fresh.Answer.ArenaLength}-byte arena) mapped " +
                    (fresh.Writable ? "for loads and stores" : "read-only, for loads"), LogLevel.Information);
            }

            fresh.TryAcquire();
            return fresh;
        }
        finally
        {
            mapping.Release();
        }
    }

    private static async ValueTask<(SharedArenaMapping? Mapping, string Reason)> TryMapAsync(FrameConnection connection, CancellationToken cancellationToken)
    {
        if (!connection.Supports(Opcode.MapArena))
        {
            return (null, $"the node speaks protocol version {connection.PeerVersion}, before MapArena");
        }

        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(Opcode.MapArena, ReadOnlyMemory<byte>.Empty, sink, cancellationToken);
        if (header.Status != FrameStatus.Ok)
        {
            return (null, $"the node does not share its arena with this client ({header.Status}: {Encoding.UTF8.GetString(sink.Body.Span)})");
        }

        try
        {
            return (SharedArenaMapping.Open(MapArenaAnswer.Read(sink.Body.Span), connection.PeerInstance), "");
        }
        catch (Exception error) when (error is IOException or ProtocolViolationException)
        {
            return (null, error.Message);
        }
    }

    private void Decide(int transport, string reason, LogLevel level)
    {
        Volatile.Write(ref state, transport);
        logger.Log(level, "Same-host loads from node {NodeId} ({Peer}): {Reason}", node.Id, Peer, reason);
    }

    /// <summary>Leases the blocks, copies their chunks out of the arena layer by layer (so layer i is complete, and
    /// reported, before layer i + 1 is touched), and releases the leases.</summary>
    private async ValueTask ReadMappedAsync(FrameConnection connection, SharedArenaMapping arena, BlockRead request, IBlockReadReceiver receiver,
        CancellationToken cancellationToken)
    {
        BlockExtents[] blocks;
        ChunkExtent[] extents;
        try
        {
            (blocks, extents) = await LeaseCalls.LeaseAsync(connection, options.Limits, request, options.LeaseDuration, cancellationToken);
        }
        catch (NodeRequestException refused)
        {
            for (var b = 0; b < request.Keys.Length; b++)
            {
                receiver.BlockAnswered(b, refused.Status);
            }

            return;
        }

        var leases = new List<ulong>(blocks.Length);
        var usable = new bool[blocks.Length];
        for (var b = 0; b < blocks.Length; b++)
        {
            var status = blocks[b].Status;
            if (status == FrameStatus.Ok)
            {
                leases.Add(blocks[b].Handle);
                if (blocks[b].ExtentCount != request.LayerCount)
                {
                    status = FrameStatus.BadRequest;
                }
            }

            usable[b] = status == FrameStatus.Ok;
            receiver.BlockAnswered(b, status);
        }

        try
        {
            Copy(arena, request.LayerCount, blocks, extents, usable, receiver);
        }
        finally
        {
            await LeaseCalls.ReleaseQuietlyAsync(connection, [.. leases], logger, node.Id, options.LeaseDuration);
        }
    }

    private void Copy(SharedArenaMapping arena, int layers, BlockExtents[] blocks, ChunkExtent[] extents, bool[] usable, IBlockReadReceiver receiver)
    {
        byte[]? staging = null;
        Span<byte> head = stackalloc byte[ChunkHeader.Size];
        try
        {
            for (var layer = 0; layer < layers; layer++)
            {
                for (var b = 0; b < blocks.Length; b++)
                {
                    if (!usable[b])
                    {
                        continue;
                    }

                    if (receiver.Abandoned.IsCancellationRequested)
                    {
                        return;
                    }

                    var extent = extents[blocks[b].FirstExtent + layer];
                    if (!arena.TrySlice(extent.Offset, extent.Length, out var chunk))
                    {
                        // Reported as a chunk that never came: the receiver fails the block on this copy.
                        logger.LogWarning("Node {NodeId} leased an extent [{Offset}, +{Length}) outside its {Arena}-byte shared arena", node.Id,
                            extent.Offset, extent.Length, arena.Answer.ArenaLength);
                        usable[b] = false;
                        continue;
                    }

                    // The checksum covers the bytes as written into this process's memory (fused copy and hash, or a copy
                    // into staging first): what the node (or anyone able to write the file) does to the arena meanwhile
                    // cannot change what was checked. The head is copied out before the receiver reads it.
                    var headLength = Math.Min(chunk.Length, Math.Min(receiver.ChunkHeadLength, head.Length));
                    chunk[..headLength].CopyTo(head);
                    var payload = chunk[headLength..];
                    if (!receiver.TryCopyPayload(b, layer, head[..headLength], payload))
                    {
                        if (staging is null || staging.Length < chunk.Length)
                        {
                            if (staging is not null)
                            {
                                ArrayPool<byte>.Shared.Return(staging);
                            }

                            staging = ArrayPool<byte>.Shared.Rent(chunk.Length);
                        }

                        chunk.CopyTo(staging);
                        receiver.ChunkReceived(b, layer, staging.AsSpan(0, chunk.Length));
                    }

                    Interlocked.Increment(ref chunksCopied);
                }
            }
        }
        finally
        {
            if (staging is not null)
            {
                ArrayPool<byte>.Shared.Return(staging);
            }
        }
    }

    /// <summary>Reserves the blocks over TCP, copies each reserved block's chunks into its extents, and commits them
    /// over TCP; a block the node did not reserve (already present, no space, ...) keeps the node's answer.</summary>
    private async ValueTask StoreMappedAsync(FrameConnection connection, SharedArenaMapping arena, BlockWrite request, Memory<FrameStatus> outcomes,
        CancellationToken cancellationToken)
    {
        var blockCount = request.Blocks.Length;
        if (outcomes.Length < blockCount)
        {
            throw new ArgumentException($"{blockCount} blocks need as many outcomes, got room for {outcomes.Length}.", nameof(outcomes));
        }

        if (await DataPlaneCalls.TryReserveAsync(connection, options.Limits, request, outcomes, cancellationToken) is not { } reservation)
        {
            return;
        }

        var (reserved, extents) = reservation;

        var handles = new List<ulong>(blockCount);
        var committing = new List<int>(blockCount);
        var targets = ChunkTargets(arena, request, reserved, extents, outcomes.Span);
        CopyIntoArena(arena, request, targets);
        for (var i = 0; i < blockCount; i++)
        {
            if (outcomes.Span[i] == FrameStatus.Ok)
            {
                handles.Add(reserved[i].Handle);
                committing.Add(i);
            }
        }

        if (handles.Count == 0)
        {
            return;
        }

        var committed = await DataPlaneCalls.CommitAsync(connection, [.. handles], cancellationToken);
        for (var h = 0; h < committing.Count; h++)
        {
            outcomes.Span[committing[h]] = committed[h];
        }
    }

    /// <summary>Per chunk of the request, the arena offset its bytes go to (-1: not written, its block was not reserved
    /// or does not fit what was reserved); sets each block's outcome from the reservation.</summary>
    private long[] ChunkTargets(SharedArenaMapping arena, BlockWrite request, BlockExtents[] reserved, ChunkExtent[] extents,
        Span<FrameStatus> outcomes)
    {
        var blocks = request.Blocks.Span;
        var chunks = request.Chunks.Span;
        var targets = new long[chunks.Length];
        targets.AsSpan().Fill(-1);
        for (var i = 0; i < blocks.Length; i++)
        {
            var block = blocks[i];
            outcomes[i] = reserved[i].Status;
            if (reserved[i].Status != FrameStatus.Ok)
            {
                continue;
            }

            if (reserved[i].ExtentCount != block.ChunkCount)
            {
                outcomes[i] = FrameStatus.BadRequest;
                continue;
            }

            for (var c = 0; c < block.ChunkCount && outcomes[i] == FrameStatus.Ok; c++)
            {
                var extent = extents[reserved[i].FirstExtent + c];
                if (extent.Length != chunks[block.FirstChunk + c].Length || !arena.TrySliceForWriting(extent.Offset, extent.Length, out _))
                {
                    // Never committed: the node reclaims the reservation when it expires.
                    logger.LogWarning("Node {NodeId} reserved [{Offset}, +{Length}) for a {Declared}-byte chunk in its {Arena}-byte shared arena",
                        node.Id, extent.Offset, extent.Length, chunks[block.FirstChunk + c].Length, arena.Answer.ArenaLength);
                    outcomes[i] = FrameStatus.InternalError;
                    break;
                }

                targets[block.FirstChunk + c] = (long)extent.Offset;
            }
        }

        for (var i = 0; i < blocks.Length; i++)
        {
            if (outcomes[i] != FrameStatus.Ok)
            {
                targets.AsSpan(blocks[i].FirstChunk, blocks[i].ChunkCount).Fill(-1);
            }
        }

        return targets;
    }

    /// <summary>Walks the payload segments (a chunk may span several, a segment never spans two chunks) and copies each
    /// into its chunk's extent.</summary>
    /// <exception cref="ArgumentException">The segments do not add up to the declared chunks.</exception>
    private void CopyIntoArena(SharedArenaMapping arena, BlockWrite request, long[] targets)
    {
        var chunks = request.Chunks.Span;
        var chunk = 0;
        var filled = 0;
        foreach (var segment in request.Payloads.Span)
        {
            while (chunk < chunks.Length && filled == chunks[chunk].Length)
            {
                chunk++;
                filled = 0;
            }

            if (chunk == chunks.Length || segment.Length > chunks[chunk].Length - filled)
            {
                throw new ArgumentException("The payload segments do not line up with the declared chunks.", nameof(request));
            }

            if (targets[chunk] >= 0 && arena.TrySliceForWriting((ulong)targets[chunk], chunks[chunk].Length, out var extent))
            {
                segment.Span.CopyTo(extent[filled..]);
                if (filled + segment.Length == chunks[chunk].Length)
                {
                    Interlocked.Increment(ref chunksWritten);
                }
            }

            filled += segment.Length;
        }
    }
}
