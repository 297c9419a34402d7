using System.Buffers;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;
using StoredExtent = KvTier.Storage.ChunkExtent;

namespace KvTier.Node.DataPlane;

/// <summary>ReadBlocks: the one-round-trip TCP read.</summary>
public sealed partial class BlockStoreFrameHandler
{
    // The socket must be done with a chunk's arena bytes this long before the lease protecting them ends.
    private static readonly TimeSpan SendMargin = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Leases every requested block (the engine verifies each chunk's checksum as it grants the lease), answers with the
    /// statuses and chunk lengths and checksums, then sends the chunks layer-major straight from the arena and releases
    /// the leases once the last byte left. Nothing is copied or hashed again: the lease keeps the extents from being
    /// evicted, moved or reused until the send is done, and a send that would outlive it closes the connection. A split
    /// read (<see cref="Opcode.ReadBlocksSplit"/>) copies each chunk's first bytes into the head and sends only the rest.
    /// </summary>
    private ValueTask ReadBlocksAsync(in ReadBlocksRequest request, bool split, FrameResponder responder, CancellationToken cancellationToken)
    {
        if (!namespaces.TryGet(request.Namespace, out var kvNamespace))
        {
            return RefuseNamespaceAsync(request.Namespace, responder, cancellationToken);
        }

        var layers = kvNamespace!.Layout.Layers;
        if (request.FirstLayer + request.LayerCount > layers)
        {
            throw new ProtocolViolationException(
                $"Layer range {request.FirstLayer}+{request.LayerCount} is outside the namespace's {layers} layers.");
        }

        var headBytes = request.ChunkHeadBytes;
        var head = split
            ? ReadBlocksResponse.MeasureSplitHead(request.Keys.Count, request.LayerCount, headBytes)
            : ReadBlocksResponse.MeasureHead(request.Keys.Count, request.LayerCount);
        if (head > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"A {head}-byte answer head is over the {limits.MaxBodyBytes}-byte body limit.");
        }

        var answer = new PooledAnswer(request.Keys.Count, request.LayerCount, head);
        try
        {
            var leaseTime = options.Timing.MaxLease;
            // Taken before the engine grants the leases, so ours ends no later than theirs.
            var deadline = leases.DeadlineAfter(leaseTime);
            LeaseAll(request, leaseTime, head, answer);
            var writer = new BodyWriter(answer.Head.AsSpan(0, head));
            var statuses = answer.Statuses.AsSpan(0, answer.Blocks);
            var chunks = answer.Chunks.AsSpan(0, answer.Blocks * answer.Layers);
            if (split)
            {
                ReadBlocksResponse.WriteSplitHead(ref writer, answer.Layers, headBytes, statuses, chunks);
                CopyChunkHeads(answer, headBytes);
            }
            else
            {
                ReadBlocksResponse.WriteHead(ref writer, answer.Layers, statuses, chunks);
            }

            var segments = 0;
            answer.Segments[segments++] = answer.Head.AsMemory(0, head);
            for (var layer = 0; layer < answer.Layers; layer++)
            {
                for (var block = 0; block < answer.Blocks; block++)
                {
                    if (answer.Statuses[block] == FrameStatus.Ok)
                    {
                        var chunk = (block * answer.Layers) + layer;
                        var skip = split ? Math.Min(headBytes, answer.Chunks[chunk].Length) : 0;
                        if (answer.Chunks[chunk].Length > skip)
                        {
                            answer.Segments[segments++] = arena.Slice(answer.Offsets[chunk] + skip, answer.Chunks[chunk].Length - skip);
                        }
                    }
                }
            }

            var send = SendAndReleaseAsync(answer, segments, deadline, responder, cancellationToken);
            answer = null;
            return send;
        }
        finally
        {
            answer?.ReleaseAll(store);
        }
    }

    /// <summary>Copies each leased chunk's first bytes from the arena into its place in a split head.</summary>
    private void CopyChunkHeads(PooledAnswer answer, int headBytes)
    {
        var head = answer.Head.AsSpan();
        for (var block = 0; block < answer.Blocks; block++)
        {
            if (answer.Statuses[block] != FrameStatus.Ok)
            {
                continue;
            }

            for (var layer = 0; layer < answer.Layers; layer++)
            {
                var chunk = (block * answer.Layers) + layer;
                var length = Math.Min(headBytes, answer.Chunks[chunk].Length);
                arena.Slice(answer.Offsets[chunk], length).Span.CopyTo(ReadBlocksResponse.SplitChunkHead(head, answer.Blocks, headBytes, chunk));
            }
        }
    }

    private void LeaseAll(in ReadBlocksRequest request, TimeSpan leaseTime, int headBytes, PooledAnswer answer)
    {
        var layers = answer.Layers;
        long bytes = headBytes;
        Span<StoredExtent> stored = answer.Stored.AsSpan(0, layers);
        for (var block = 0; block < answer.Blocks; block++)
        {
            var result = store.Read(new BlockId(request.Namespace, request.Keys[block]), request.FirstLayer, layers, leaseTime, stored);
            if (result.Status != ReadStatus.Hit)
            {
                answer.Statuses[block] = ToFrameStatus(result.Status);
                continue;
            }

            long blockBytes = 0;
            foreach (var extent in stored)
            {
                blockBytes += extent.Length;
            }

            if (bytes + blockBytes > limits.MaxBodyBytes)
            {
                // Only a client that ignores the limits asks for this much; it gets the blocks that fit.
                store.ReleaseLease(result.LeaseId);
                logger.LogInformation("ReadBlocks: block {Block} would take the answer over {Limit} bytes; refused", block, limits.MaxBodyBytes);
                answer.Statuses[block] = FrameStatus.BadRequest;
                continue;
            }

            bytes += blockBytes;
            answer.Statuses[block] = FrameStatus.Ok;
            answer.LeaseIds[answer.Leases++] = result.LeaseId;
            for (var layer = 0; layer < layers; layer++)
            {
                var chunk = (block * layers) + layer;
                answer.Chunks[chunk] = new ChunkDeclaration(stored[layer].Length, stored[layer].Checksum);
                answer.Offsets[chunk] = stored[layer].ArenaOffset;
            }
        }
    }

    private async ValueTask SendAndReleaseAsync(PooledAnswer answer, int segments, long deadline, FrameResponder responder,
        CancellationToken cancellationToken)
    {
        try
        {
            await responder.SendGatheredAsync(FrameStatus.Ok, answer.Segments.AsMemory(0, segments), leases.Remaining(deadline) - SendMargin,
                cancellationToken);
        }
        finally
        {
            answer.ReleaseAll(store);
        }
    }

    /// <summary>The pooled state of one ReadBlocks answer, alive until its send completes.</summary>
    private sealed class PooledAnswer
    {
        public PooledAnswer(int blocks, int layers, int headBytes)
        {
            Blocks = blocks;
            Layers = layers;
            var chunks = Math.Max(1, blocks * layers);
            Statuses = ArrayPool<FrameStatus>.Shared.Rent(Math.Max(1, blocks));
            Chunks = ArrayPool<ChunkDeclaration>.Shared.Rent(chunks);
            Offsets = ArrayPool<long>.Shared.Rent(chunks);
            LeaseIds = ArrayPool<ulong>.Shared.Rent(Math.Max(1, blocks));
            Segments = ArrayPool<ReadOnlyMemory<byte>>.Shared.Rent(chunks + 1);
            Stored = ArrayPool<StoredExtent>.Shared.Rent(Math.Max(1, layers));
            Head = ArrayPool<byte>.Shared.Rent(headBytes);
            Chunks.AsSpan(0, blocks * layers).Clear();
        }

        public int Blocks { get; }

        public int Layers { get; }

        public FrameStatus[] Statuses { get; }

        public ChunkDeclaration[] Chunks { get; }

        public long[] Offsets { get; }

        public ulong[] LeaseIds { get; }

        public ReadOnlyMemory<byte>[] Segments { get; }

        public StoredExtent[] Stored { get; }

        public byte[] Head { get; }

        public int Leases { get; set; }

        public void ReleaseAll(IBlockStore store)
        {
            for (var i = 0; i < Leases; i++)
            {
                store.ReleaseLease(LeaseIds[i]);
            }

            Leases = 0;
            ArrayPool<FrameStatus>.Shared.Return(Statuses);
            ArrayPool<ChunkDeclaration>.Shared.Return(Chunks);
            ArrayPool<long>.Shared.Return(Offsets);
            ArrayPool<ulong>.Shared.Return(LeaseIds);
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(Segments, clearArray: true);
            ArrayPool<StoredExtent>.Shared.Return(Stored);
            ArrayPool<byte>.Shared.Return(Head);
        }
    }
}
