using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Core;
using KvTier.Transport;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>
/// One load: blocks grouped per node into reads of at most a body's worth each (one round trip per read over TCP);
/// every chunk is verified end to end (the codec header's checksum, which its writer computed over the header and the
/// payload) and decoded into the destination as it arrives; a block that fails on one copy is retried on the next;
/// the first block that fails everywhere ends the prefix.
/// </summary>
internal sealed class LoadOperation : IDisposable
{
    private const byte Pending = 0;
    private const byte Loaded = 1;
    private const byte Failed = 2;

    private readonly KvTierClient client;
    private readonly KvNamespace ns;
    private readonly ChunkCodec codec;
    private readonly BlockKey[] keys;
    private readonly PrefixLookup prefix;
    private readonly Memory<byte> destination;
    private readonly DirectLoadTarget? direct;
    private readonly int firstLayer;
    private readonly int layerCount;
    private readonly int blockCount;
    private readonly int chunkBytes;
    private readonly int maxEncodedChunk;
    private readonly Action<LayerLoaded>? layerLoaded;
    private readonly byte[] states;
    private readonly int[] layerPending;
    private readonly Lock stateLock = new();
    private readonly List<(NodeId Node, int Block)> stale = [];
    private readonly CancellationTokenSource abandoned = new();
    private readonly CancellationToken abandonedToken;
    private string? firstFailure;
    private int activeDecodes;
    private int detached;

    public LoadOperation(KvTierClient client, KvNamespace ns, PrefixLookup prefix, Memory<byte> destination, LoadOptions options)
        : this(client, ns, prefix, destination, null, options)
    {
        var needed = (long)blockCount * layerCount * chunkBytes;
        if (destination.Length < needed)
        {
            throw new ArgumentException(
                $"Destination of {destination.Length} bytes is too small: {blockCount} blocks x {layerCount} layers x {chunkBytes} bytes need {needed}.",
                nameof(destination));
        }
    }

    /// <summary>A direct load: chunks are read over RDMA straight into <paramref name="direct"/>'s registered memory
    /// (see <see cref="IDirectReadReceiver"/>); a node the client reaches over TCP cannot serve it.</summary>
    public LoadOperation(KvTierClient client, KvNamespace ns, PrefixLookup prefix, DirectLoadTarget direct, LoadOptions options)
        : this(client, ns, prefix, Memory<byte>.Empty, direct, options)
    {
        if (codec.Id != CodecId.None)
        {
            throw new ArgumentException(
                $"Namespace {ns.Id} is encoded with {codec.Id}: a direct load lands chunks as stored, so it needs the 'none' codec; load through LoadAsync instead.",
                nameof(ns));
        }

        if (firstLayer < direct.FirstLayer || firstLayer + layerCount > direct.FirstLayer + direct.LayerCount)
        {
            throw new ArgumentException(
                $"Layers {firstLayer}..{firstLayer + layerCount - 1} are not all in the target's layers {direct.FirstLayer}..{direct.FirstLayer + direct.LayerCount - 1}.",
                nameof(options));
        }

        if ((long)blockCount * chunkBytes > direct.BytesPerLayer)
        {
            throw new ArgumentException(
                $"The target's {direct.BytesPerLayer} bytes per layer cannot hold {blockCount} blocks x {chunkBytes} bytes.", nameof(direct));
        }
    }

    private LoadOperation(KvTierClient client, KvNamespace ns, PrefixLookup prefix, Memory<byte> destination, DirectLoadTarget? direct,
        LoadOptions options)
    {
        this.client = client;
        this.ns = ns;
        this.prefix = prefix;
        this.destination = destination;
        this.direct = direct;
        codec = ChunkCodecs.ForNamespace(ns);
        var layers = ns.Layout.Layers;
        if (options.FirstLayer < 0 || options.FirstLayer >= layers || options.LayerCount < 0 || options.FirstLayer + options.LayerCount > layers)
        {
            throw new ArgumentException(
                $"Layer range {options.FirstLayer}+{options.LayerCount} is outside the namespace's {layers} layers.", nameof(options));
        }

        if (options.MaxBlocks < 0)
        {
            throw new ArgumentException($"MaxBlocks {options.MaxBlocks} is negative.", nameof(options));
        }

        firstLayer = options.FirstLayer;
        layerCount = options.LayerCount == 0 ? layers - firstLayer : options.LayerCount;
        blockCount = Math.Min(prefix.HitCount, options.MaxBlocks);
        chunkBytes = ns.Layout.BytesPerLayerChunk;
        keys = new BlockKey[prefix.HitCount];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = prefix.Hits[i].Key;
        }

        maxEncodedChunk = codec.MaxEncodedLength(chunkBytes, ChunkShape.ForLayout(ns.Layout));
        abandonedToken = abandoned.Token;
        layerLoaded = options.LayerLoaded;
        states = new byte[blockCount * layerCount];
        layerPending = new int[layerCount];
        Array.Fill(layerPending, blockCount);
    }

    public async Task<LoadResult> RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            var attempt = new int[blockCount];
            var todo = Enumerable.Range(0, blockCount).ToList();
            while (todo.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var failedThisRound = new bool[blockCount];
                var byNode = todo.GroupBy(b => prefix.Hits[b].Locations[attempt[b]].Node);
                await Task.WhenAll(byNode.Select(group => FetchFromNodeAsync(group.Key, [.. group], failedThisRound, cancellationToken)));
                cancellationToken.ThrowIfCancellationRequested();
                todo = NextRound(todo, attempt, failedThisRound);
            }

            var loaded = UsablePrefix();
            await UnpublishStaleAsync(cancellationToken);
            return new LoadResult(loaded, blockCount, loaded < blockCount ? firstFailure ?? "block failed" : null);
        }
        finally
        {
            Detach();
        }
    }

    private List<int> NextRound(List<int> blocks, int[] attempt, bool[] failedThisRound)
    {
        var retry = new List<int>();
        var cut = int.MaxValue;
        foreach (var b in blocks.Order())
        {
            if (!failedThisRound[b])
            {
                continue;
            }

            if (b < cut && attempt[b] + 1 < prefix.Hits[b].Locations.Length)
            {
                attempt[b]++;
                retry.Add(b);
            }
            else
            {
                cut = Math.Min(cut, b);
                FailBlock(b);
            }
        }

        // Blocks after a block that failed everywhere are not usable: do not spend another round on them.
        foreach (var b in retry.Where(b => b > cut).ToList())
        {
            retry.Remove(b);
            FailBlock(b);
        }

        return retry;
    }

    /// <summary>Most blocks one read of <paramref name="layerCount"/> layers may ask for so that the answer fits the body
    /// limit even if nothing compresses.</summary>
    internal static int BlocksPerRead(KvTierClientOptions options, int layerCount, int maxEncodedChunk)
    {
        var perBlock = 2 + ((long)layerCount * (12 + maxEncodedChunk));
        return (int)Math.Clamp((options.Limits.MaxBodyBytes - 8) / perBlock, 1, options.MaxBlocksPerRequest);
    }

    /// <summary>
    /// Cuts one node's blocks into reads: the blocks into <paramref name="groups"/> groups (one per idle connection, so
    /// the node verifies and sends them on several cores at once; when the connections are busy with other loads,
    /// splitting would only add requests and answers), and the layers into ranges small enough that a group's answer
    /// fits the body limit. Reads come layer range by layer range, and a connection serves its reads in order, so the
    /// first layers of every block arrive first however large the load: layer-by-layer completion survives loads of
    /// many bodies.
    /// </summary>
    internal static List<(int FirstBlock, int BlockCount, int FirstLayer, int LayerCount)> PlanReads(KvTierClientOptions options,
        int blocks, int layers, int maxEncodedChunk, int groups)
    {
        groups = Math.Max(1, groups);
        var perGroup = Math.Min((blocks + groups - 1) / groups, BlocksPerRead(options, 1, maxEncodedChunk));
        var layersPerRead = layers;
        while (layersPerRead > 1 && BlocksPerRead(options, layersPerRead, maxEncodedChunk) < perGroup)
        {
            layersPerRead = Math.Max(1, layersPerRead / 2);
        }

        perGroup = Math.Max(1, Math.Min(perGroup, BlocksPerRead(options, layersPerRead, maxEncodedChunk)));
        var reads = new List<(int, int, int, int)>();
        for (var layer = 0; layer < layers; layer += layersPerRead)
        {
            for (var block = 0; block < blocks; block += perGroup)
            {
                reads.Add((block, Math.Min(perGroup, blocks - block), layer, Math.Min(layersPerRead, layers - layer)));
            }
        }

        return reads;
    }

    private async Task FetchFromNodeAsync(NodeId node, int[] blocks, bool[] failedThisRound, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(client.Options.RequestTimeout);
        try
        {
            var channel = await client.GetChannelAsync(node, timeout.Token)
                ?? throw new IOException($"Node {node} is not live in the directory.");
            if (direct is not null && !(NodeChannelFactory.RdmaOf(channel) is { } rdma && await rdma.UsesRdmaAsync(timeout.Token)))
            {
                throw new IOException($"Node {node} serves this client over TCP; a direct load needs RDMA.");
            }

            var parallel = Math.Clamp(channel.ReadParallelism, 1, client.Options.ConnectionsPerNode);
            var reads = PlanReads(client.Options, blocks.Length, layerCount, maxEncodedChunk, parallel);
            await Task.WhenAll(reads.Select(read => ReadAsync(channel, node, blocks[read.FirstBlock..(read.FirstBlock + read.BlockCount)],
                read.FirstLayer, read.LayerCount, failedThisRound, timeout.Token)));
        }
        catch (Exception error) when (error is IOException or ProtocolViolationException
            || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            client.Logger.LogWarning("Loading {Count} blocks from node {Node} failed: {Reason}", blocks.Length, node, error.Message);
            foreach (var b in blocks)
            {
                if (!BlockLoaded(b))
                {
                    failedThisRound[b] = true;
                    NoteFailure(b, $"node {node}: {error.Message}");
                }
            }
        }
    }

    /// <summary>One read: layers <paramref name="firstReadLayer"/>..+<paramref name="readLayers"/> (relative to the
    /// load's first layer) of <paramref name="blocks"/>.</summary>
    private async Task ReadAsync(INodeChannel channel, NodeId node, int[] blocks, int firstReadLayer, int readLayers, bool[] failedThisRound,
        CancellationToken cancellationToken)
    {
        var blockKeys = new BlockKey[blocks.Length];
        for (var i = 0; i < blocks.Length; i++)
        {
            blockKeys[i] = keys[blocks[i]];
        }

        var receiver = new NodeReceiver(this, node, blocks, firstReadLayer, readLayers, failedThisRound);
        try
        {
            await channel.ReadBlocksAsync(new BlockRead(ns.Id, firstLayer + firstReadLayer, readLayers, blockKeys), receiver, cancellationToken);
        }
        finally
        {
            receiver.FailUnfinished();
        }
    }

    private bool IsLoaded(int block, int layer)
    {
        lock (stateLock)
        {
            return states[(layer * blockCount) + block] == Loaded;
        }
    }

    private bool BlockLoaded(int block)
    {
        lock (stateLock)
        {
            for (var layer = 0; layer < layerCount; layer++)
            {
                if (states[(layer * blockCount) + block] != Loaded)
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Verifies and decodes one chunk (its header and its payload, held apart or not) into its slot; false
    /// when it is corrupt. The codec header's checksum covers the header fields and the payload and was computed by the
    /// chunk's writer, so it catches a bit flipped in the node's arena, on the wire or in a buggy transport alike; no
    /// other hash pass is needed.</summary>
    private bool Deliver(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
    {
        Interlocked.Increment(ref activeDecodes);
        try
        {
            // A direct load has no host memory to decode into: its chunks arrive only through DirectDelivered.
            if (Volatile.Read(ref detached) != 0 || direct is not null)
            {
                return false;
            }

            // The chunk must be exactly one encoded chunk: bytes after it would be covered by no checksum.
            if (ChunkHeader.Read(head, payload.Length).PayloadLength != payload.Length)
            {
                return false;
            }

            var slot = destination.Span.Slice(((layer * blockCount) + block) * chunkBytes, chunkBytes);
            if (ChunkCodecs.Decode(head, payload, slot, codec.Id) != chunkBytes)
            {
                return false;
            }
        }
        catch (ChunkFormatException)
        {
            return false;
        }
        finally
        {
            Interlocked.Decrement(ref activeDecodes);
        }

        SetState(block, layer, Loaded);
        return true;
    }

    private void FailBlock(int block)
    {
        for (var layer = 0; layer < layerCount; layer++)
        {
            SetState(block, layer, Failed);
        }
    }

    private void SetState(int block, int layer, byte state)
    {
        int remaining;
        lock (stateLock)
        {
            ref var current = ref states[(layer * blockCount) + block];
            if (current != Pending)
            {
                return;
            }

            current = state;
            remaining = --layerPending[layer];
        }

        if (remaining == 0 && layerLoaded is not null && Volatile.Read(ref detached) == 0)
        {
            layerLoaded(new LayerLoaded(firstLayer + layer, UsableBlocks(layer)));
        }
    }

    private int UsableBlocks(int layer)
    {
        lock (stateLock)
        {
            var b = 0;
            while (b < blockCount && states[(layer * blockCount) + b] == Loaded)
            {
                b++;
            }

            return b;
        }
    }

    private int UsablePrefix()
    {
        var usable = blockCount;
        for (var layer = 0; layer < layerCount; layer++)
        {
            usable = Math.Min(usable, UsableBlocks(layer));
        }

        return usable;
    }

    private void NoteFailure(int block, string reason) =>
        Interlocked.CompareExchange(ref firstFailure, $"block {block}: {reason}", null);

    private async Task UnpublishStaleAsync(CancellationToken cancellationToken)
    {
        foreach (var group in stale.GroupBy(s => s.Node))
        {
            try
            {
                var dirKeys = group.Select(s => DirectoryKey.InChain(keys, s.Block)).ToList();
                await client.Directory.UnpublishAsync(ns.Id, group.Key, dirKeys, cancellationToken);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                client.Logger.LogDebug("Unpublishing stale entries of node {Node} failed: {Reason}", group.Key, error.Message);
            }
        }
    }

    /// <summary>After this returns, no receive thread writes into the caller's destination any more: decodes in progress
    /// finish, and chunks being received in place are cut off (their connection fails).</summary>
    private void Detach()
    {
        Interlocked.Exchange(ref detached, 1);
        abandoned.Cancel();
        var spinner = default(SpinWait);
        while (Volatile.Read(ref activeDecodes) != 0)
        {
            spinner.SpinOnce();
        }
    }

    /// <summary>Frees the abandon signal (a receive path that still holds its token sees it cancelled).</summary>
    public void Dispose() => abandoned.Dispose();

    /// <summary>A <c>none</c> chunk's payload is the raw chunk itself: it is received straight into its slot and
    /// verified there (see <see cref="Placed"/>); slots of consecutive blocks of a layer are back to back, so a channel
    /// lands many payloads with one read. Other codecs decode from the channel's staging. Holds off
    /// <see cref="Detach"/> until the placement ends.</summary>
    private Memory<byte> Place(int block, int layer, ReadOnlySpan<byte> head, int payloadLength, out int offset)
    {
        offset = 0;
        if (direct is not null || codec.Id != CodecId.None || payloadLength != chunkBytes || head.Length != ChunkHeader.Size || IsLoaded(block, layer))
        {
            return Memory<byte>.Empty;
        }

        try
        {
            var header = ChunkHeader.Read(head, payloadLength);
            if (header.Codec != CodecId.None || header.RawLength != chunkBytes || header.PayloadLength != chunkBytes)
            {
                return Memory<byte>.Empty; // decoded (and refused) through the staging path
            }
        }
        catch (ChunkFormatException)
        {
            return Memory<byte>.Empty;
        }

        Interlocked.Increment(ref activeDecodes);
        if (Volatile.Read(ref detached) != 0)
        {
            Interlocked.Decrement(ref activeDecodes);
            return Memory<byte>.Empty;
        }

        offset = ((layer * blockCount) + block) * chunkBytes;
        return destination;
    }

    /// <summary>Ends a placement: verifies the chunk end to end (header fields and the payload in its slot against the
    /// header's checksum); false when it is corrupt or incomplete. Until then the slot is not marked loaded.</summary>
    private bool Placed(int block, int layer, ReadOnlySpan<byte> head, bool complete) => EndPlacement(block, layer, head, complete, default);

    /// <summary>Copies a chunk's payload from memory the channel can read into its slot, verifying it in the same pass;
    /// false, with nothing done, when it is not a placeable <c>none</c> payload (see <see cref="Place"/>).</summary>
    private bool TryCopy(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload, out bool verified)
    {
        verified = false;
        if (Place(block, layer, head, payload.Length, out _).IsEmpty)
        {
            return false;
        }

        verified = EndPlacement(block, layer, head, complete: true, payload);
        return true;
    }

    /// <summary>Verifies a placed chunk's slot against its header (the bytes already there, or <paramref name="copyFrom"/>
    /// copied in while they are hashed), marks it loaded when it is whole, and lets <see cref="Detach"/> go on.</summary>
    private bool EndPlacement(int block, int layer, ReadOnlySpan<byte> head, bool complete, ReadOnlySpan<byte> copyFrom)
    {
        var ok = false;
        try
        {
            if (complete && Volatile.Read(ref detached) == 0)
            {
                var header = ChunkHeader.Read(head, chunkBytes);
                var slot = destination.Span.Slice(((layer * blockCount) + block) * chunkBytes, chunkBytes);
                if (copyFrom.IsEmpty)
                {
                    header.VerifyChecksum(head, slot);
                }
                else
                {
                    header.CopyAndVerify(head, copyFrom, slot);
                }

                ok = true;
            }
        }
        catch (ChunkFormatException)
        {
        }
        finally
        {
            Interlocked.Decrement(ref activeDecodes);
        }

        if (ok)
        {
            SetState(block, layer, Loaded);
        }

        return ok;
    }

    /// <summary>Where a chunk's payload goes in the direct target's region; false when the chunk is not a raw chunk
    /// behind its header (the namespace's layout says how long that is) or the load has ended.</summary>
    private bool PlaceDirect(int block, int layer, int length, out ulong offset)
    {
        offset = 0;
        if (direct is null || length != ChunkHeader.Size + chunkBytes || Volatile.Read(ref detached) != 0)
        {
            return false;
        }

        offset = direct.LayerOffset(firstLayer + layer) + ((ulong)block * (ulong)chunkBytes);
        return true;
    }

    /// <summary>A chunk read straight into the direct target. Its bytes cannot be read by this CPU (GPU memory): the node
    /// verified the whole chunk against its checksum when it granted the lease, the lease kept it from changing, and
    /// the RDMA transport's end-to-end CRC covered it on the wire (see docs/rdma.md, "What is verified where").</summary>
    private void DirectDelivered(int block, int layer)
    {
        if (Volatile.Read(ref detached) == 0)
        {
            SetState(block, layer, Loaded);
        }
    }

    /// <summary>Takes one read's answers: maps its block indexes to the load's, verifies and decodes each chunk, and
    /// records which blocks failed on this copy.</summary>
    /// <remarks>The channel numbers layers within its read; <c>layerOffset</c> turns them into the load's.</remarks>
    private sealed class NodeReceiver(LoadOperation load, NodeId node, int[] blocks, int layerOffset, int layerCount, bool[] failedThisRound)
        : IDirectReadReceiver
    {
        // Per block of this read: chunks still expected (-1 until the node answered for it).
        private readonly int[] chunksLeft = CreateUnanswered(blocks.Length);

        public void BlockAnswered(int block, FrameStatus status)
        {
            if (status == FrameStatus.Ok)
            {
                chunksLeft[block] = layerCount;
                return;
            }

            chunksLeft[block] = 0;
            Fail(block, $"node {node} answered {status}", stale: status is FrameStatus.NotFound or FrameStatus.Corrupt);
        }

        public CancellationToken Abandoned => load.abandonedToken;

        public int ChunkHeadLength => ChunkHeader.Size;

        public Memory<byte> PlacePayload(int block, int layer, ReadOnlySpan<byte> head, int payloadLength, out int offset) =>
            load.Place(blocks[block], layerOffset + layer, head, payloadLength, out offset);

        public void PayloadPlaced(int block, int layer, ReadOnlySpan<byte> head, bool complete)
        {
            chunksLeft[block]--;
            if (!load.Placed(blocks[block], layerOffset + layer, head, complete))
            {
                Fail(block, $"node {node} sent layer {load.firstLayer + layerOffset + layer} corrupt or incomplete", stale: complete);
            }
        }

        public bool TryCopyPayload(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
        {
            if (!load.TryCopy(blocks[block], layerOffset + layer, head, payload, out var verified))
            {
                return false;
            }

            chunksLeft[block]--;
            if (!verified)
            {
                Fail(block, $"node {node} sent layer {load.firstLayer + layerOffset + layer} corrupt", stale: true);
            }

            return true;
        }

        public DirectLoadTarget? Direct => load.direct;

        public bool TryPlaceDirect(int block, int layer, int length, out ulong offset) =>
            load.PlaceDirect(blocks[block], layerOffset + layer, length, out offset);

        public void ChunkDelivered(int block, int layer, bool delivered, string? failure)
        {
            chunksLeft[block]--;
            if (delivered)
            {
                load.DirectDelivered(blocks[block], layerOffset + layer);
            }
            else
            {
                Fail(block, $"node {node}: layer {load.firstLayer + layerOffset + layer} was not read into the target: {failure ?? "failed"}",
                    stale: false);
            }
        }

        public void ChunkReceived(int block, int layer, ReadOnlySpan<byte> chunk)
        {
            var headLength = Math.Min(chunk.Length, ChunkHeader.Size);
            ChunkReceived(block, layer, chunk[..headLength], chunk[headLength..]);
        }

        public void ChunkReceived(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
        {
            chunksLeft[block]--;
            if (load.IsLoaded(blocks[block], layerOffset + layer))
            {
                return; // verified on an earlier copy
            }

            if (!load.Deliver(blocks[block], layerOffset + layer, head, payload))
            {
                Fail(block, $"node {node} sent layer {load.firstLayer + layerOffset + layer} corrupt", stale: true);
            }
        }

        /// <summary>Blocks the node did not answer for, or whose chunks did not all arrive, failed on this copy.</summary>
        public void FailUnfinished()
        {
            for (var i = 0; i < chunksLeft.Length; i++)
            {
                if (chunksLeft[i] != 0)
                {
                    failedThisRound[blocks[i]] = true;
                }
            }
        }

        private void Fail(int block, string reason, bool stale)
        {
            failedThisRound[blocks[block]] = true;
            load.NoteFailure(blocks[block], reason);
            if (stale)
            {
                lock (load.stale)
                {
                    load.stale.Add((node, blocks[block]));
                }
            }
        }

        private static int[] CreateUnanswered(int count)
        {
            var left = new int[count];
            Array.Fill(left, -1);
            return left;
        }
    }
}
