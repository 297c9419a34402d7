using System.Buffers;
using System.Collections.Concurrent;
using KvTier.BlockDirectory;
using KvTier.Codecs;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Client;

/// <summary>
/// What an inference engine links: finds the longest cached prefix of a prompt in one directory round trip, loads
/// its blocks from the cache nodes (batched per node, verified, decoded into the caller's buffers, layer by layer)
/// and stores new blocks. Thread-safe; create one per process and share it.
/// </summary>
/// <remarks>
/// Buffers are layer-major: the chunk of block <c>b</c> and layer <c>l</c> (K then V, <c>KvLayout.BytesPerLayerChunk</c>
/// bytes) starts at <c>((l - firstLayer) * blocks + b) * BytesPerLayerChunk</c>, so one layer of every block is contiguous.
/// </remarks>
public sealed class KvTierClient : IAsyncDisposable
{
    private readonly ConcurrentDictionary<NodeId, (string Address, INodeChannel Channel)> channels = new();
    private readonly Func<NodeInfo, INodeChannel> openChannel;
    private readonly NodeChannelFactory channelFactory;
    private readonly SemaphoreSlim membershipLock = new(1, 1);
    private IReadOnlyList<NodeInfo> liveNodes = [];
    private long membershipFetchedAt;
    private bool membershipFetched;
    private int disposed;

    /// <summary>Creates a client over a directory (in-process or Redis); nothing is connected until first use.</summary>
    /// <exception cref="ArgumentException">An option is invalid (or a TLS file unusable); the message names it.</exception>
    /// <exception cref="InvalidOperationException"><see cref="DataPlaneTransportMode.RequireRdma"/> on a host without a
    /// usable RDMA device.</exception>
    public KvTierClient(IBlockDirectory directory, KvTierClientOptions? options = null, ILogger? logger = null)
        : this(directory, options, logger, null)
    {
    }

    /// <summary>The seam where another transport plugs in: <paramref name="openChannel"/> opens the data-plane channel
    /// of a live node (default: TCP).</summary>
    internal KvTierClient(IBlockDirectory directory, KvTierClientOptions? options, ILogger? logger, Func<NodeInfo, INodeChannel>? openChannel)
    {
        Directory = directory ?? throw new ArgumentNullException(nameof(directory));
        Options = options ?? new KvTierClientOptions();
        Options.Validate();
        Logger = logger ?? NullLogger.Instance;
        channelFactory = new NodeChannelFactory(Options, DataPlaneSecurity.ConnectionOptions(Options), Logger);
        this.openChannel = openChannel ?? channelFactory.Open;
    }

    /// <summary>The directory the client looks blocks up in and publishes stored blocks to.</summary>
    public IBlockDirectory Directory { get; }

    /// <summary>The client's settings.</summary>
    public KvTierClientOptions Options { get; }

    internal ILogger Logger { get; }

    /// <summary>The data-plane transport of each node this client has a channel to (RDMA or TCP; a node whose RDMA
    /// channel has not decided yet, on its first read, is absent). The log says once per node why.</summary>
    public IReadOnlyDictionary<NodeId, Rdma.DataPlaneTransport> Transports
    {
        get
        {
            var transports = new Dictionary<NodeId, Rdma.DataPlaneTransport>();
            foreach (var (node, entry) in channels)
            {
                if (TransportOf(entry.Channel) is { } transport)
                {
                    transports[node] = transport;
                }
            }

            return transports;
        }
    }

    /// <summary>Bytes a load or store buffer needs for <paramref name="blocks"/> blocks and
    /// <paramref name="layers"/> layers of <paramref name="kvNamespace"/>.</summary>
    public static long BufferBytes(KvNamespace kvNamespace, int blocks, int layers)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        return (long)blocks * layers * kvNamespace.Layout.BytesPerLayerChunk;
    }

    /// <summary>The longest prefix of <paramref name="chain"/> cached on live nodes, with its locations: one directory
    /// round trip. Never throws because the directory is down (the answer is then a degraded miss).</summary>
    public ValueTask<PrefixLookup> LookupAsync(KvNamespace kvNamespace, ReadOnlyMemory<BlockKey> chain,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        return Directory.LookupPrefixAsync(kvNamespace.Id, chain, default, cancellationToken);
    }

    /// <summary>Hashes <paramref name="tokens"/> into the namespace's block chain (full blocks only) and looks its
    /// cached prefix up.</summary>
    public async ValueTask<TokenLookup> LookupTokensAsync(BlockHasher hasher, ReadOnlyMemory<int> tokens, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hasher);
        var chain = hasher.ComputeKeys(tokens.Span);
        return new TokenLookup(chain, await LookupAsync(hasher.Namespace, chain, cancellationToken));
    }

    /// <summary>
    /// Loads the cached prefix found by a lookup into <paramref name="destination"/> (layer-major, see the remarks on
    /// <see cref="KvTierClient"/>). Every chunk is verified end to end (the checksum its writer put in the chunk's codec
    /// header, over the header and the payload) before its bytes are decoded into place. A block that is missing, corrupt or unreachable on every copy ends the usable prefix;
    /// <see cref="LoadResult.LoadedBlocks"/> says how many leading blocks are valid. Stale directory entries found on
    /// the way are removed.
    /// </summary>
    public Task<LoadResult> LoadAsync(KvNamespace kvNamespace, PrefixLookup prefix, Memory<byte> destination,
        LoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentNullException.ThrowIfNull(prefix);
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        return RunLoadAsync(new LoadOperation(this, kvNamespace, prefix, destination, options ?? new LoadOptions()), cancellationToken);
    }

    private static async Task<LoadResult> RunLoadAsync(LoadOperation load, CancellationToken cancellationToken)
    {
        using (load)
        {
            return await load.RunAsync(cancellationToken);
        }
    }

    /// <summary>The same load into native memory (for example pinned host memory an engine copies to the GPU). The
    /// memory must stay valid until the returned task completes; nothing is written to it afterwards.</summary>
    public async Task<LoadResult> LoadToPointerAsync(KvNamespace kvNamespace, PrefixLookup prefix, nint destination, long length,
        LoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (destination == 0 || length < 0 || length > int.MaxValue)
        {
            throw new ArgumentException($"Native destination 0x{destination:x} of {length} bytes is not usable (null, or over 2 GiB).",
                nameof(destination));
        }

        using var memory = new NativeMemoryManager(destination, (int)length);
        return await LoadAsync(kvNamespace, prefix, memory.Memory, options, cancellationToken);
    }

    /// <summary>
    /// Loads the cached prefix straight into registered device memory over RDMA (GPUDirect RDMA): the node verifies
    /// each chunk against its checksum as it grants the lease, then this client's NIC reads the chunks' payloads into
    /// <paramref name="target"/> without staging them in host memory. The CPU cannot read that memory, so this load's
    /// chunks are not verified again on arrival as <see cref="LoadAsync"/>'s are; the RDMA transport's end-to-end CRC
    /// covers them on the wire (docs/rdma.md, "What is verified where"). Needs the namespace's codec to be <c>none</c>
    /// and every node serving the prefix to be reached over RDMA (<see cref="CheckDirectLoadAsync"/> says whether
    /// they are); a block on a node reached over TCP fails on that copy. Per-layer progress and the usable prefix
    /// work as in <see cref="LoadAsync"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The codec is not <c>none</c>, or the target does not hold the layers or blocks.</exception>
    public Task<LoadResult> LoadDirectAsync(KvNamespace kvNamespace, PrefixLookup prefix, DirectLoadTarget target,
        LoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(target);
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        return RunLoadAsync(new LoadOperation(this, kvNamespace, prefix, target, options ?? new LoadOptions()), cancellationToken);
    }

    /// <summary>Whether <see cref="LoadDirectAsync"/> can load the first <paramref name="maxBlocks"/> blocks of
    /// <paramref name="prefix"/> into <paramref name="target"/>: the codec is <c>none</c>, the node holding each block's
    /// first copy is reached over RDMA (decided now where it was not yet), and the target registers with the device.
    /// Never throws for an unreachable node or a refused registration; the answer says why not.</summary>
    public async Task<DirectLoadCheck> CheckDirectLoadAsync(KvNamespace kvNamespace, PrefixLookup prefix, DirectLoadTarget target,
        int maxBlocks = int.MaxValue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(target);
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (ChunkCodecs.ForNamespace(kvNamespace).Id != CodecId.None)
        {
            return new DirectLoadCheck(false, $"namespace {kvNamespace.Id} uses codec '{kvNamespace.Codec}'; direct loads need 'none'");
        }

        var nodes = new HashSet<NodeId>();
        for (var b = 0; b < Math.Min(prefix.HitCount, Math.Max(0, maxBlocks)); b++)
        {
            nodes.Add(prefix.Hits[b].Locations[0].Node);
        }

        foreach (var node in nodes)
        {
            try
            {
                var channel = await GetChannelAsync(node, cancellationToken);
                var rdma = channel is null ? null : NodeChannelFactory.RdmaOf(channel);
                if (rdma is null || !await rdma.UsesRdmaAsync(cancellationToken))
                {
                    var why = rdma?.TransportReason ?? "the client's transport settings keep it on TCP";
                    return new DirectLoadCheck(false, channel is null ? $"node {node} is not live" : $"node {node} is reached over TCP ({why})");
                }

                rdma.RegisterDirect(target);
            }
            catch (Exception error) when (error is IOException or ArgumentException)
            {
                return new DirectLoadCheck(false, $"node {node}: {error.Message}");
            }
        }

        return new DirectLoadCheck(true, $"RDMA to {nodes.Count} node(s), target registered");
    }

    /// <summary>
    /// Stores blocks <paramref name="firstBlock"/>.. of <paramref name="chain"/>, whose raw chunks (every layer) are in
    /// <paramref name="source"/> (layer-major over those blocks). Blocks the directory already lists are skipped; the
    /// rest are encoded with the namespace's codec and placed by weighted rendezvous hashing on
    /// <see cref="KvTierClientOptions.ReplicationFactor"/> live nodes, using the node's reserve, write, commit.
    /// </summary>
    public Task<StoreResult> StoreAsync(KvNamespace kvNamespace, BlockKey[] chain, int firstBlock, ReadOnlyMemory<byte> source,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentNullException.ThrowIfNull(chain);
        ObjectDisposedException.ThrowIf(disposed != 0, this);
        if (firstBlock < 0 || firstBlock > chain.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(firstBlock), firstBlock, $"The chain has {chain.Length} blocks.");
        }

        var needed = BufferBytes(kvNamespace, chain.Length - firstBlock, kvNamespace.Layout.Layers);
        if (source.Length != needed)
        {
            throw new ArgumentException(
                $"Source of {source.Length} bytes does not hold {chain.Length - firstBlock} blocks x {kvNamespace.Layout.Layers} layers x {kvNamespace.Layout.BytesPerLayerChunk} bytes = {needed}.",
                nameof(source));
        }

        return new StoreOperation(this, kvNamespace, chain, firstBlock, source).RunAsync(cancellationToken);
    }

    /// <summary>Closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        foreach (var entry in channels.Values)
        {
            await entry.Channel.DisposeAsync();
        }

        channels.Clear();
        channelFactory.Dispose();
        membershipLock.Dispose();
    }

    internal async ValueTask<IReadOnlyList<NodeInfo>> GetLiveNodesAsync(CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        if (Volatile.Read(ref membershipFetched) && now - Volatile.Read(ref membershipFetchedAt) < (long)Options.MembershipCacheTime.TotalMilliseconds)
        {
            return Volatile.Read(ref liveNodes);
        }

        await membershipLock.WaitAsync(cancellationToken);
        try
        {
            if (!membershipFetched || Environment.TickCount64 - membershipFetchedAt >= (long)Options.MembershipCacheTime.TotalMilliseconds)
            {
                Volatile.Write(ref liveNodes, await Directory.GetLiveNodesAsync(cancellationToken));
                Volatile.Write(ref membershipFetchedAt, Environment.TickCount64);
                Volatile.Write(ref membershipFetched, true);
            }

            return liveNodes;
        }
        finally
        {
            membershipLock.Release();
        }
    }

    /// <summary>The data-plane channel of a live node; null when the node is not live.</summary>
    internal async ValueTask<INodeChannel?> GetChannelAsync(NodeId node, CancellationToken cancellationToken)
    {
        var info = (await GetLiveNodesAsync(cancellationToken)).FirstOrDefault(n => n.Id == node);
        if (info is null)
        {
            return null;
        }

        while (true)
        {
            if (channels.TryGetValue(node, out var entry))
            {
                if (entry.Address == info.DataPlaneAddress)
                {
                    return entry.Channel;
                }

                // The node moved (restarted elsewhere): drop the old channel.
                if (channels.TryRemove(new KeyValuePair<NodeId, (string, INodeChannel)>(node, entry)))
                {
                    await entry.Channel.DisposeAsync();
                }

                continue;
            }

            var channel = openChannel(info);
            if (channels.TryAdd(node, (info.DataPlaneAddress, channel)))
            {
                return channel;
            }

            await channel.DisposeAsync();
        }
    }

    private static Rdma.DataPlaneTransport? TransportOf(INodeChannel channel) => channel switch
    {
        SharedMemoryNodeChannel shared => shared.UsesInner ? TransportOf(shared.Inner) : shared.Transport,
        RdmaNodeChannel rdma => rdma.Transport,
        TcpNodeChannel => Rdma.DataPlaneTransport.Tcp,
        _ => null,
    };

    private sealed unsafe class NativeMemoryManager(nint pointer, int length) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan() => new((void*)pointer, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
