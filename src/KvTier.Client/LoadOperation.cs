using System.IO.Hashing;
using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Core;
using KvTier.Transport;
using KvTier.Transport.Messages;
using Microsoft.Extensions.Logging;

namespace KvTier.Client;

/// <summary>
/// One load: blocks grouped per node into one lease, one read and one release each; chunks verified (the node's
/// XXH3-64 from the lease, then the codec's header checksum) and decoded into the destination as they arrive; a
/// block that fails on one copy is retried on the next; the first block that fails everywhere ends the prefix.
/// </summary>
internal sealed class LoadOperation
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
    private readonly int firstLayer;
    private readonly int layerCount;
    private readonly int blockCount;
    private readonly int chunkBytes;
    private readonly Action<LayerLoaded>? layerLoaded;
    private readonly byte[] states;
    private readonly int[] layerPending;
    private readonly Lock stateLock = new();
    private readonly List<(NodeId Node, int Block)> stale = [];
    private string? firstFailure;
    private int activeDecodes;
    private int detached;

    public LoadOperation(KvTierClient client, KvNamespace ns, PrefixLookup prefix, Memory<byte> destination, LoadOptions options)
    {
        this.client = client;
        this.ns = ns;
        this.prefix = prefix;
        this.destination = destination;
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
        var needed = (long)blockCount * layerCount * chunkBytes;
        if (destination.Length < needed)
        {
            throw new ArgumentException(
                $"Destination of {destination.Length} bytes is too small: {blockCount} blocks x {layerCount} layers x {chunkBytes} bytes need {needed}.",
                nameof(destination));
        }

        keys = new BlockKey[prefix.HitCount];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = prefix.Hits[i].Key;
        }

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

    private async Task FetchFromNodeAsync(NodeId node, int[] blocks, bool[] failedThisRound, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(client.Options.RequestTimeout);
        try
        {
            var pool = await client.GetPoolAsync(node, timeout.Token)
                ?? throw new IOException($"Node {node} is not live in the directory.");
            var connection = await pool.GetAsync(timeout.Token);
            var blockKeys = blocks.Select(b => keys[b]).ToArray();
            var (leased, extents) = await DataPlaneCalls.LeaseAsync(connection, client.Options.Limits, ns.Id, firstLayer, layerCount,
                client.Options.LeaseDuration, blockKeys, timeout.Token);
            var ok = new List<int>(blocks.Length);
            for (var i = 0; i < blocks.Length; i++)
            {
                if (leased[i].Status == FrameStatus.Ok && leased[i].ExtentCount == layerCount)
                {
                    ok.Add(i);
                    continue;
                }

                failedThisRound[blocks[i]] = true;
                NoteFailure(blocks[i], $"node {node} answered {leased[i].Status}");
                if (leased[i].Status is FrameStatus.NotFound or FrameStatus.Corrupt)
                {
                    lock (stale)
                    {
                        stale.Add((node, blocks[i]));
                    }
                }
            }

            if (ok.Count == 0)
            {
                return;
            }

            // Layer-major order: layer i of every block arrives before layer i + 1 of any.
            var items = new ExtentIo[ok.Count * layerCount];

            var receiver = new NodeReceiver(this, node, ok.Count * layerCount, failedThisRound);
            var n = 0;
            for (var layer = 0; layer < layerCount; layer++)
            {
                foreach (var i in ok)
                {
                    if (IsLoaded(blocks[i], layer))
                    {
                        continue; // verified on an earlier copy
                    }

                    var extent = extents[leased[i].FirstExtent + layer];
                    items[n] = new ExtentIo(leased[i].Handle, extent.Offset, extent.Length);
                    receiver.Map(n++, blocks[i], layer, extent.Checksum);
                }
            }

            try
            {
                await DataPlaneCalls.ReadAsync(connection, items, n, new StreamingReadSink(items, n, receiver), timeout.Token);
            }
            finally
            {
                receiver.FailUnreceived();
                _ = ReleaseAsync(connection, [.. ok.Select(i => leased[i].Handle)]);
            }
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

    private async Task ReleaseAsync(Transport.Tcp.FrameConnection connection, ulong[] handles)
    {
        try
        {
            using var timeout = new CancellationTokenSource(client.Options.RequestTimeout);
            await DataPlaneCalls.ReleaseAsync(connection, handles, timeout.Token);
        }
        catch (Exception error) when (error is IOException or OperationCanceledException or ProtocolViolationException or ObjectDisposedException)
        {
            // Leases end at their timeout anyway.
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

    /// <summary>Verifies and decodes one chunk into its slot; false when it is corrupt.</summary>
    private bool Deliver(int block, int layer, ulong checksum, ReadOnlySpan<byte> encoded)
    {
        if (XxHash3.HashToUInt64(encoded) != checksum)
        {
            return false;
        }

        Interlocked.Increment(ref activeDecodes);
        try
        {
            if (Volatile.Read(ref detached) != 0)
            {
                return false;
            }

            var slot = destination.Span.Slice(((layer * blockCount) + block) * chunkBytes, chunkBytes);
            if (ChunkCodecs.Decode(encoded, slot, codec.Id) != chunkBytes)
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

    /// <summary>After this returns, no receive thread writes into the caller's destination any more.</summary>
    private void Detach()
    {
        Interlocked.Exchange(ref detached, 1);
        var spinner = default(SpinWait);
        while (Volatile.Read(ref activeDecodes) != 0)
        {
            spinner.SpinOnce();
        }
    }

    /// <summary>Maps a node's read items to (block, layer, checksum) and records what arrived.</summary>
    private sealed class NodeReceiver(LoadOperation load, NodeId node, int count, bool[] failedThisRound) : IChunkReceiver
    {
        private readonly (int Block, int Layer, ulong Checksum)[] map = new (int, int, ulong)[count];
        private readonly bool[] done = new bool[count];

        public void Map(int index, int block, int layer, ulong checksum) => map[index] = (block, layer, checksum);

        public void Received(int index, ReadOnlySpan<byte> bytes)
        {
            done[index] = true;
            var (block, layer, checksum) = map[index];
            if (!load.Deliver(block, layer, checksum, bytes))
            {
                failedThisRound[block] = true;
                load.NoteFailure(block, $"node {node} sent layer {load.firstLayer + layer} with a bad checksum");
                lock (load.stale)
                {
                    load.stale.Add((node, block));
                }
            }
        }

        public void Failed(int index, FrameStatus status)
        {
            done[index] = true;
            var block = map[index].Block;
            failedThisRound[block] = true;
            load.NoteFailure(block, $"node {node} did not serve layer {load.firstLayer + map[index].Layer}: {status}");
        }

        public void FailUnreceived()
        {
            for (var i = 0; i < done.Length; i++)
            {
                if (!done[i])
                {
                    failedThisRound[map[i].Block] = true;
                }
            }
        }
    }
}
