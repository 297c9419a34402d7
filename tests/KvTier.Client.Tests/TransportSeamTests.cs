using System.Collections.Concurrent;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Rdma;
using KvTier.Transport;

namespace KvTier.Client.Tests;

/// <summary>The client's loads and stores go through <see cref="INodeChannel"/>, so another transport (RDMA) plugs in
/// without changing them, and the client verifies every chunk whatever transport delivered it.</summary>
public sealed class TransportSeamTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Loads_and_stores_go_through_the_channel_at_most_one_read_per_connection_to_each_node()
    {
        var ns = TestCluster.Namespace("none");
        await using var cluster = await TestCluster.StartAsync(2, null, ns);
        var channels = new ConcurrentBag<RecordingChannel>();
        await using var tcp = cluster.Client();
        await using var client = cluster.Client(info => Record(channels, new RecordingChannel(OpenTcp(tcp, info))));
        var chain = TestCluster.Chain(12, seed: 31);
        var source = TestCluster.RandomBlocks(ns, 12, seed: 32);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(new StoreResult(12, 0, 0), stored);
        Assert.Equal(12, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
        Assert.Equal(12, channels.Sum(c => c.BlocksStored));
        Assert.Equal(12, channels.Sum(c => c.BlocksRead));
        Assert.All(channels.Where(c => c.BlocksRead > 0), c => Assert.InRange(c.Reads, 1, client.Options.ConnectionsPerNode));
    }

    [Fact]
    public async Task A_load_larger_than_one_answer_may_hold_is_split_into_layer_ranges_sent_first_layers_first()
    {
        var ns = TestCluster.Namespace("none");
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var tcp = cluster.Client();
        var chain = TestCluster.Chain(12, seed: 35);
        var source = TestCluster.RandomBlocks(ns, 12, seed: 36);
        await tcp.StoreAsync(ns, chain, 0, source, Token);
        var channels = new ConcurrentBag<RecordingChannel>();
        // Room for 4 blocks of 2 chunks of 2 KiB (plus headers) per answer.
        await using var client = cluster.Client(info => Record(channels, new RecordingChannel(OpenTcp(tcp, info))),
            limits: new FrameLimits { MaxBodyBytes = 20_000 });

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(12, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
        // One layer of 6 blocks per read (two connections' worth of blocks, as many layers as fit), layer 0 first:
        // a connection serves its reads in order, so every block's first layer arrives before any block's second.
        Assert.Equal([(0, 1, 6), (0, 1, 6), (1, 1, 6), (1, 1, 6)], channels.Single().Requests);
    }

    [Theory]
    [InlineData(512, 32, 64 << 10, 4)] // 1 GiB of Llama-3-8B-sized blocks from one node: more than 4 answers' worth
    [InlineData(12, 2, 2 << 10, 2)]
    [InlineData(3, 80, 1 << 20, 8)] // fewer blocks than connections; one layer of a block is most of a body
    [InlineData(40, 4, 100 << 20, 2)] // one chunk is more than a third of a body: reads of one layer and two blocks
    public void Read_plans_cover_every_chunk_once_fit_the_body_limit_and_go_layer_range_by_layer_range(int blocks, int layers, int chunk,
        int connections)
    {
        var options = new KvTierClientOptions { ConnectionsPerNode = connections };
        var encoded = chunk + 32;

        var reads = LoadOperation.PlanReads(options, blocks, layers, encoded, connections);

        var seen = new int[blocks, layers];
        var previousFirstLayer = 0;
        foreach (var (firstBlock, blockCount, firstLayer, layerCount) in reads)
        {
            Assert.True(firstLayer >= previousFirstLayer, "a read of earlier layers came after one of later layers");
            previousFirstLayer = firstLayer;
            var answer = 8 + ((long)blockCount * (2 + (layerCount * (12L + encoded))));
            Assert.True(answer <= options.Limits.MaxBodyBytes, $"a read of {blockCount} blocks x {layerCount} layers needs a {answer}-byte answer");
            for (var b = firstBlock; b < firstBlock + blockCount; b++)
            {
                for (var l = firstLayer; l < firstLayer + layerCount; l++)
                {
                    seen[b, l]++;
                }
            }
        }

        Assert.All(seen.Cast<int>(), count => Assert.Equal(1, count));
        if ((blocks + connections - 1) / connections <= LoadOperation.BlocksPerRead(options, 1, encoded))
        {
            // Where one layer of every block fits in one answer per connection, the first wave (one read per
            // connection) carries layer 0 of every block.
            var firstWave = reads.Take(connections).Where(r => r.FirstLayer == 0).Sum(r => r.BlockCount);
            Assert.Equal(blocks, firstWave);
        }
    }

    [Fact]
    public async Task A_store_larger_than_one_request_may_hold_goes_out_as_several_writes_and_loads_back_intact()
    {
        var ns = TestCluster.Namespace("none");
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        // Room for about 4 blocks of 2 chunks of 2 KiB (plus headers) per WriteExtents body; 12 blocks need several.
        await using var client = new KvTierClient(cluster.Directory, new KvTierClientOptions
        {
            RequestTimeout = TimeSpan.FromSeconds(10),
            MembershipCacheTime = TimeSpan.Zero,
            Limits = new FrameLimits { MaxBodyBytes = 20_000 },
        });
        var chain = TestCluster.Chain(12, seed: 37);
        var source = TestCluster.RandomBlocks(ns, 12, seed: 38);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        await using var reader = cluster.Client();
        var destination = new byte[source.Length];
        var loaded = await reader.LoadAsync(ns, await reader.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(new StoreResult(12, 0, 0), stored);
        Assert.Equal(12, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    [Theory]
    [InlineData("none", 128)] // 512 KiB chunks: received in place, verified in the caller's buffer
    [InlineData("none", 16)] // 2 KiB chunks: received in place too, several per socket read
    [InlineData("lz4", 16)] // received into staging, verified while decoding
    public async Task A_chunk_corrupted_in_transport_fails_its_block_and_ends_the_prefix_there(string codec, int tokensPerBlock)
    {
        var ns = new KvNamespace("seam", "main", new KvLayout(2, 8, 128, KvDataType.BFloat16, tokensPerBlock), "tests",
            BlockHashAlgorithm.Xxh3, codec, 1000);
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var tcp = cluster.Client();
        var chain = TestCluster.Chain(6, seed: 33);
        var source = TestCluster.RandomBlocks(ns, 6, seed: 34);
        await tcp.StoreAsync(ns, chain, 0, source, Token);
        // A transport that flips one payload bit of block 4, layer 1: the node's checks cannot see it.
        var channels = new ConcurrentBag<RecordingChannel>();
        await using var client = cluster.Client(info => Record(channels, new RecordingChannel(OpenTcp(tcp, info), flipKey: chain[4], flipLayer: 1)));

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(4, loaded.LoadedBlocks);
        Assert.Contains("block 4", loaded.FirstFailure, StringComparison.Ordinal);
        Assert.Equal(codec == "none", channels.Sum(c => c.ChunksPlaced) > 0);
        var chunk = ns.Layout.BytesPerLayerChunk;
        for (var layer = 0; layer < ns.Layout.Layers; layer++)
        {
            Assert.True(source.AsSpan(layer * 6 * chunk, 4 * chunk).SequenceEqual(destination.AsSpan(layer * 6 * chunk, 4 * chunk)));
        }
    }

    [Theory]
    [InlineData("none")] // copied out of the shared arena into place, hashed in the same pass
    [InlineData("lz4")] // copied into staging, verified while decoding
    public async Task A_chunk_changed_in_the_shared_arena_after_the_nodes_lease_check_is_caught_by_the_client(string codec)
    {
        var ns = new KvNamespace("seam", "main", new KvLayout(2, 8, 128, KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, codec, 1000);
        var shared = Directory.CreateTempSubdirectory("kvtier-seam-").FullName;
        try
        {
            await using var directory = new InProcessBlockDirectory();
            await using var node = await TestNode.StartAsync(directory, 21, [ns], shared);
            await using var plain = new KvTierClient(directory);
            var chain = TestCluster.Chain(6, seed: 35);
            var source = TestCluster.RandomBlocks(ns, 6, seed: 36);
            await plain.StoreAsync(ns, chain, 0, source, Token);
            // The flip happens between the node's lease check and the client's copy, as a write to the file would.
            var channels = new ConcurrentBag<RecordingChannel>();
            await using var client = new KvTierClient(directory, new KvTierClientOptions(), ConsoleTestLogger.Instance,
                info => Record(channels, new RecordingChannel(OpenTcp(plain, info), flipKey: chain[4], flipLayer: 1)));

            var destination = new byte[source.Length];
            var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

            Assert.Equal(4, loaded.LoadedBlocks);
            Assert.Contains("block 4", loaded.FirstFailure, StringComparison.Ordinal);
            Assert.Equal(DataPlaneTransport.SharedMemory, Assert.Single(plain.Transports).Value);
            Assert.Equal(codec == "none", channels.Sum(c => c.ChunksCopied) > 0);
            var chunk = ns.Layout.BytesPerLayerChunk;
            for (var layer = 0; layer < ns.Layout.Layers; layer++)
            {
                Assert.True(source.AsSpan(layer * 6 * chunk, 4 * chunk).SequenceEqual(destination.AsSpan(layer * 6 * chunk, 4 * chunk)));
            }
        }
        finally
        {
            Directory.Delete(shared, recursive: true);
        }
    }

    [Theory]
    [InlineData("none")] // payloads placed back to back, up to 1 MiB per read: more than a layer here
    [InlineData("lz4")] // staged, several chunks per read
    public async Task A_layer_is_reported_loaded_before_any_chunk_of_the_next_layer_is_read(string codec)
    {
        // 64 KiB chunks, 5 blocks of 3 layers, one read.
        var ns = new KvNamespace("layers", "main", new KvLayout(3, 8, 128, KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, codec, 1000);
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        await using var tcp = cluster.Client();
        var chain = TestCluster.Chain(5, seed: 51);
        var source = TestCluster.RandomBlocks(ns, 5, seed: 52);
        await tcp.StoreAsync(ns, chain, 0, source, Token);
        // The receive path and the layer callbacks write to one log, in the order they happen.
        var log = new ConcurrentQueue<string>();
        var channels = new ConcurrentBag<RecordingChannel>();
        await using var client = cluster.Client(info => Record(channels, new RecordingChannel(OpenTcp(tcp, info), parallelism: 1, log: log)));

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination,
            new LoadOptions { LayerLoaded = layer => log.Enqueue($"loaded {layer.Layer}") }, Token);

        Assert.Equal(5, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
        Assert.Equal(1, channels.Single().Reads);
        var events = log.ToArray();
        for (var layer = 1; layer < 3; layer++)
        {
            var completed = Array.IndexOf(events, $"loaded {layer - 1}");
            var firstOfNext = Array.IndexOf(events, $"chunk {layer}");
            Assert.InRange(completed, 0, firstOfNext - 1);
        }
    }

    private static INodeChannel OpenTcp(KvTierClient tcp, NodeInfo info) =>
        tcp.GetChannelAsync(info.Id, Token).AsTask().GetAwaiter().GetResult()!;

    private static RecordingChannel Record(ConcurrentBag<RecordingChannel> all, RecordingChannel channel)
    {
        all.Add(channel);
        return channel;
    }

    /// <summary>Wraps a real channel: counts calls, and can flip a bit of one chunk on its way to the receiver.</summary>
    private sealed class RecordingChannel(INodeChannel inner, BlockKey? flipKey = null, int flipLayer = -1, int? parallelism = null,
        ConcurrentQueue<string>? log = null) : INodeChannel
    {
        private int reads;
        private int blocksRead;
        private int blocksStored;
        private int chunksPlaced;
        private int chunksCopied;

        public int Reads => reads;

        public int ChunksCopied => chunksCopied;

        public int ChunksPlaced => chunksPlaced;

        public int BlocksRead => blocksRead;

        public int BlocksStored => blocksStored;

        public string Peer => inner.Peer;

        /// <summary>Each read's first layer, layer count and block count, in the order the load issued them.</summary>
        public ConcurrentQueue<(int FirstLayer, int LayerCount, int Blocks)> Requests { get; } = new();

        public int ReadParallelism => parallelism ?? inner.ReadParallelism;

        /// <summary>Notes that the channel began taking a chunk of <paramref name="layer"/>.</summary>
        public void Note(int layer) => log?.Enqueue($"chunk {layer}");

        public ValueTask ReadBlocksAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken)
        {
            Requests.Enqueue((request.FirstLayer, request.LayerCount, request.Keys.Length));
            Interlocked.Increment(ref reads);
            Interlocked.Add(ref blocksRead, request.Keys.Length);
            return inner.ReadBlocksAsync(request, new Flipping(this, receiver, request, flipKey, flipLayer), cancellationToken);
        }

        public async ValueTask StoreBlocksAsync(BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken)
        {
            await inner.StoreBlocksAsync(request, outcomes, cancellationToken);
            Interlocked.Add(ref blocksStored, outcomes.Span[..request.Blocks.Length].Count(FrameStatus.Ok));
        }

        // The inner channel belongs to the plain TCP client, which disposes it.
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        private sealed class Flipping(RecordingChannel channel, IBlockReadReceiver inner, BlockRead request, BlockKey? flipKey, int flipLayer)
            : IBlockReadReceiver
        {
            private Memory<byte> placed;

            public CancellationToken Abandoned => inner.Abandoned;

            public void BlockAnswered(int block, FrameStatus status) => inner.BlockAnswered(block, status);

            public int ChunkHeadLength => inner.ChunkHeadLength;

            public void ChunkReceived(int block, int layer, ReadOnlySpan<byte> chunk)
            {
                channel.Note(request.FirstLayer + layer);
                if (!IsTarget(block, layer))
                {
                    inner.ChunkReceived(block, layer, chunk);
                    return;
                }

                var copy = chunk.ToArray();
                copy[^1] ^= 0x01;
                inner.ChunkReceived(block, layer, copy);
            }

            public void ChunkReceived(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
            {
                channel.Note(request.FirstLayer + layer);
                if (!IsTarget(block, layer))
                {
                    inner.ChunkReceived(block, layer, head, payload);
                    return;
                }

                var copy = payload.ToArray();
                copy[^1] ^= 0x01;
                inner.ChunkReceived(block, layer, head, copy);
            }

            public Memory<byte> PlacePayload(int block, int layer, ReadOnlySpan<byte> head, int payloadLength, out int offset)
            {
                channel.Note(request.FirstLayer + layer);
                var memory = inner.PlacePayload(block, layer, head, payloadLength, out offset);
                if (!memory.IsEmpty)
                {
                    Interlocked.Increment(ref channel.chunksPlaced);
                }

                if (IsTarget(block, layer))
                {
                    placed = memory.IsEmpty ? memory : memory.Slice(offset, payloadLength);
                }

                return memory;
            }

            public bool TryCopyPayload(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload)
            {
                channel.Note(request.FirstLayer + layer);
                var copied = IsTarget(block, layer) ? inner.TryCopyPayload(block, layer, head, Flipped(payload)) : inner.TryCopyPayload(block, layer, head, payload);
                if (copied)
                {
                    Interlocked.Increment(ref channel.chunksCopied);
                }

                return copied;
            }

            private static byte[] Flipped(ReadOnlySpan<byte> payload)
            {
                var copy = payload.ToArray();
                copy[^1] ^= 0x01;
                return copy;
            }

            public void PayloadPlaced(int block, int layer, ReadOnlySpan<byte> head, bool complete)
            {
                if (complete && IsTarget(block, layer))
                {
                    placed.Span[^1] ^= 0x01;
                }

                inner.PayloadPlaced(block, layer, head, complete);
            }

            private bool IsTarget(int block, int layer) => request.FirstLayer + layer == flipLayer && request.Keys.Span[block] == flipKey;
        }
    }
}
