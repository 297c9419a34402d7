using System.Buffers;
using System.IO.Hashing;
using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Core;
using KvTier.Transport;
using KvTier.Transport.Messages;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>
/// One store: skip blocks the directory already lists, place each of the rest on its top
/// <see cref="KvTierClientOptions.ReplicationFactor"/> rendezvous nodes, encode it once, and send each node its blocks
/// (TCP: PutBlocks frames); a node that fails or refuses hands its blocks to the next node in their ranking. A node's
/// blocks go out as frames of about <see cref="PipelineBytes"/>, each encoded while the one before it is on the wire and
/// being verified by the node. Committed copies are published to the directory.
/// </summary>
internal sealed class StoreOperation(KvTierClient client, KvNamespace ns, BlockKey[] chain, int firstBlock, ReadOnlyMemory<byte> source)
{
    private const int MaxEncodeBuffer = 64 << 20;
    private const int SendInPlaceFromBytes = 256 << 10;

    // Small enough that a store of a few MiB is several frames (the client encodes one while the node takes the last),
    // large enough that a frame's fixed costs stay small next to its bytes.
    private const long PipelineBytes = 512 << 10;

    private readonly int layers = ns.Layout.Layers;
    private readonly int chunkBytes = ns.Layout.BytesPerLayerChunk;
    private readonly List<byte[]> rented = [];
    private EncodedBlock?[] encoded = [];

    public async Task<StoreResult> RunAsync(CancellationToken cancellationToken)
    {
        var blockCount = chain.Length - firstBlock;
        if (blockCount == 0)
        {
            return new StoreResult(0, 0, 0);
        }

        var directoryKeys = DirectoryKey.ForChain(chain);
        var present = await client.Directory.ContainsAsync(ns.Id, directoryKeys[firstBlock..], cancellationToken);
        var blocks = Enumerable.Range(firstBlock, blockCount).Where(b => !present[b - firstBlock]).ToList();
        var alreadyCached = blockCount - blocks.Count;
        var nodes = await client.GetLiveNodesAsync(cancellationToken);
        if (blocks.Count == 0 || nodes.Count == 0)
        {
            return new StoreResult(0, alreadyCached, blocks.Count);
        }

        encoded = new EncodedBlock?[blockCount];
        try
        {
            if (Math.Min(client.Options.ReplicationFactor, nodes.Count) > 1)
            {
                // Copies of a block go to several nodes at once: encode everything before the sends start.
                Encode(blocks);
            }

            return await PlaceAsync(blocks, alreadyCached, nodes, directoryKeys, cancellationToken);
        }
        finally
        {
            // Every node call has finished (a write is never left running past its call), so the buffers are free.
            foreach (var buffer in rented)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private async Task<StoreResult> PlaceAsync(List<int> blocks, int alreadyCached, IReadOnlyList<NodeInfo> nodes, DirectoryKey[] directoryKeys,
        CancellationToken cancellationToken)
    {
        var replicas = Math.Min(client.Options.ReplicationFactor, nodes.Count);
        var rankings = blocks.ToDictionary(b => b, b => Placement.Rank(chain[b], nodes));
        var nextChoice = blocks.ToDictionary(b => b, _ => 0);
        var copies = blocks.ToDictionary(b => b, _ => 0);
        var cached = new HashSet<int>();
        var wanted = blocks.ToDictionary(b => b, _ => replicas);
        while (true)
        {
            var assignments = new Dictionary<NodeId, (NodeInfo Node, List<int> Blocks)>();
            foreach (var b in blocks)
            {
                for (; wanted[b] > 0 && nextChoice[b] < rankings[b].Length; wanted[b]--)
                {
                    var node = rankings[b][nextChoice[b]++];
                    if (!assignments.TryGetValue(node.Id, out var entry))
                    {
                        entry = (node, []);
                        assignments[node.Id] = entry;
                    }

                    entry.Blocks.Add(b);
                }
            }

            if (assignments.Count == 0)
            {
                break;
            }

            var results = await Task.WhenAll(assignments.Values.Select(a => StoreOnNodeAsync(a.Node, a.Blocks, directoryKeys, cancellationToken)));
            foreach (var (b, outcome) in results.SelectMany(r => r))
            {
                switch (outcome)
                {
                    case FrameStatus.Ok:
                        copies[b]++;
                        break;
                    case FrameStatus.AlreadyPresent:
                        copies[b]++;
                        cached.Add(b);
                        break;
                    default:
                        wanted[b]++; // try the next node in this block's ranking
                        break;
                }
            }
        }

        var stored = blocks.Count(b => copies[b] > 0 && !cached.Contains(b));
        var failed = blocks.Count(b => copies[b] == 0);
        return new StoreResult(stored, alreadyCached + cached.Count(b => copies[b] > 0), failed);
    }

    /// <summary>Encodes the blocks not encoded yet, into a few large pooled buffers (a store can hold thousands of
    /// chunks, more than the pool keeps of any one size).</summary>
    private void Encode(List<int> blocks)
    {
        var codec = ChunkCodecs.ForNamespace(ns);
        var shape = ChunkShape.ForLayout(ns.Layout);
        // "none" stores the raw chunk as its payload: only the header is written and the caller's bytes are sent as they
        // are. A plain TCP connection sends a whole store with one gathered send, so that holds for every size; over TLS
        // each segment becomes its own record, so small chunks are copied behind their header there.
        var stored = codec.Id == CodecId.None && (chunkBytes >= SendInPlaceFromBytes || client.Options.Tls is null);
        var perChunk = stored ? ChunkHeader.Size : codec.MaxEncodedLength(chunkBytes, shape);
        var blockCount = chain.Length - firstBlock;
        var hasher = new XxHash3();
        var buffer = Array.Empty<byte>();
        var used = 0;
        var left = blocks.Count(b => encoded[b - firstBlock] is null);
        foreach (var b in blocks)
        {
            if (encoded[b - firstBlock] is not null)
            {
                continue;
            }

            var chunks = new ReadOnlyMemory<byte>[stored ? 2 * layers : layers];
            var declarations = new ChunkDeclaration[layers];
            long bytes = 0;
            for (var layer = 0; layer < layers; layer++)
            {
                if (buffer.Length - used < perChunk)
                {
                    buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(perChunk, Math.Min((long)perChunk * layers * left, MaxEncodeBuffer)));
                    lock (rented)
                    {
                        rented.Add(buffer);
                    }

                    used = 0;
                }

                var rawOffset = ((layer * blockCount) + (b - firstBlock)) * chunkBytes;
                var raw = source.Slice(rawOffset, chunkBytes);
                if (stored)
                {
                    var header = buffer.AsMemory(used, ChunkHeader.Size);
                    ChunkCodecs.WriteNoneHeader(raw.Span, shape, header.Span);
                    hasher.Reset();
                    hasher.Append(header.Span);
                    hasher.Append(raw.Span);
                    (chunks[2 * layer], chunks[(2 * layer) + 1]) = (header, raw);
                    declarations[layer] = new ChunkDeclaration(ChunkHeader.Size + chunkBytes, hasher.GetCurrentHashAsUInt64());
                    used += ChunkHeader.Size;
                }
                else
                {
                    var length = codec.Encode(raw.Span, shape, buffer.AsSpan(used, perChunk));
                    chunks[layer] = buffer.AsMemory(used, length);
                    declarations[layer] = new ChunkDeclaration(length, XxHash3.HashToUInt64(buffer.AsSpan(used, length)));
                    used += length;
                }

                bytes += declarations[layer].Length;
            }

            encoded[b - firstBlock] = new EncodedBlock(chunks, declarations, checked((int)bytes));
            left--;
        }
    }

    private async Task<List<(int Block, FrameStatus Outcome)>> StoreOnNodeAsync(NodeInfo node, List<int> blocks, DirectoryKey[] directoryKeys,
        CancellationToken cancellationToken)
    {
        var outcomes = new List<(int, FrameStatus)>(blocks.Count);
        var frames = new List<(List<int> Blocks, Task<FrameStatus[]> Answers)>();
        try
        {
            var channel = await client.GetChannelAsync(node.Id, cancellationToken) ?? throw new IOException($"Node {node.Id} is not live.");
            var rawBlockBytes = (long)layers * chunkBytes;
            for (var start = 0; start < blocks.Count;)
            {
                var count = (int)Math.Clamp(PipelineBytes / rawBlockBytes, 1, Math.Min(client.Options.MaxBlocksPerRequest, blocks.Count - start));
                var frame = blocks.GetRange(start, count);
                Encode(frame);
                frames.Add((frame, PutAsync(channel, frame, directoryKeys, cancellationToken)));
                start += count;
            }

            foreach (var (frame, answers) in frames)
            {
                var statuses = await answers;
                for (var i = 0; i < frame.Count; i++)
                {
                    outcomes.Add((frame[i], statuses[i]));
                }
            }

            await PublishAsync(node, outcomes, directoryKeys, cancellationToken);
        }
        catch (Exception error) when (error is IOException or ProtocolViolationException
            || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            client.Logger.LogWarning("Storing {Count} blocks on node {Node} failed: {Reason}", blocks.Count, node.Id, error.Message);
            var answered = outcomes.Select(o => o.Item1).ToHashSet();
            outcomes.AddRange(blocks.Where(b => !answered.Contains(b)).Select(b => (b, FrameStatus.InternalError)));
        }
        finally
        {
            // Frames still on the wire read the encode buffers and the caller's bytes: none may outlive this call.
            await Task.WhenAll(frames.Select(f => (Task)f.Answers)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        return outcomes;
    }

    private async Task<FrameStatus[]> PutAsync(INodeChannel channel, List<int> batch, DirectoryKey[] directoryKeys, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(client.Options.RequestTimeout);
        var toReserve = new BlockToReserve[batch.Count];
        var declarations = new ChunkDeclaration[batch.Count * layers];
        var segments = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            segments += encoded[batch[i] - firstBlock]!.Chunks.Length;
        }

        var payloads = new ReadOnlyMemory<byte>[segments];
        segments = 0;
        for (var i = 0; i < batch.Count; i++)
        {
            var block = encoded[batch[i] - firstBlock]!;
            toReserve[i] = new BlockToReserve(chain[batch[i]], directoryKeys[batch[i]].Anchor, i * layers, layers);
            block.Declarations.CopyTo(declarations, i * layers);
            block.Chunks.CopyTo(payloads, segments);
            segments += block.Chunks.Length;
        }

        var answers = new FrameStatus[batch.Count];
        await channel.StoreBlocksAsync(new BlockWrite(ns.Id, client.Options.ReservationTimeout, toReserve, declarations, payloads), answers, timeout.Token);
        return answers;
    }

    private async Task PublishAsync(NodeInfo node, List<(int Block, FrameStatus Outcome)> outcomes, DirectoryKey[] directoryKeys,
        CancellationToken cancellationToken)
    {
        var publications = outcomes
            .Where(o => o.Outcome is FrameStatus.Ok or FrameStatus.AlreadyPresent)
            .Select(o => new BlockPublication(directoryKeys[o.Block],
                new BlockLocation(node.Id, StorageTier.Host, encoded[o.Block - firstBlock]!.Bytes, node.Epoch)))
            .ToList();
        if (publications.Count > 0)
        {
            // A hint: the node is the truth, and a lost publication costs one recomputation.
            await client.Directory.PublishAsync(ns.Id, publications, cancellationToken);
        }
    }

    /// <summary>One encoded block: its payload segments (a chunk may span two: header, then the caller's bytes), each
    /// chunk's length and checksum, and its encoded size.</summary>
    private sealed record EncodedBlock(ReadOnlyMemory<byte>[] Chunks, ChunkDeclaration[] Declarations, int Bytes);
}
