using System.Diagnostics;
using System.Runtime.InteropServices;
using KvTier.Client;
using KvTier.Core;
using KvTier.Core.Layout;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using KvTier.Rdma;
using KvTier.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.RdmaCheck;

/// <summary>The product over real verbs: a real node in this process (NodeHost: arena registered on the device, gRPC
/// control plane on loopback answering ConnectRdma) and a real <see cref="KvTierClient"/> with
/// <see cref="DataPlaneTransportMode.RequireRdma"/>: stores by RDMA WRITE into reservations, loads by RDMA READ of
/// leases with every byte compared; then the node dropping the client's queue pair (the client reconnects over the
/// control plane and the load completes), a chunk that changed after the node's lease check (caught by the client),
/// and a chunk corrupted in the node's arena (refused by the node at lease time).</summary>
internal static class NodeCheck
{
    private const int Blocks = 48;

    public static async Task RunAsync(string? deviceName, Action<bool, string> check)
    {
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var token = cancel.Token;
        var log = new LineLogger();
        var options = new NodeOptions
        {
            NodeId = "rdma-check",
            DataPlane = { Host = "127.0.0.1", Port = 0 },
            ControlPlane = { Host = "127.0.0.1", Port = 0 },
            Http = { Host = "127.0.0.1", Port = 0 },
            Storage = { ArenaSize = new ByteSize(32L << 20), HugePages = false, LockMemory = false },
            Rdma = { Enabled = true, Device = deviceName },
        };
        var clock = Stopwatch.StartNew();
        await using var node = await NodeHost.StartAsync(options,
            (store, namespaces, anchors) => new BlockStoreFrameHandler(store, namespaces, options, NullLogger.Instance, anchorBook: anchors),
            NullLoggerFactory.Instance, token);
        check(node.RdmaServer is not null, $"node: started with its gRPC control plane on {node.ControlPlaneEndPoint} in " +
            $"{clock.Elapsed.TotalSeconds:F1} s; {node.RdmaStatus}");
        if (node.RdmaServer is null)
        {
            return;
        }

        var ns = new KvNamespace("rdma-check", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, 256), "check");
        node.Namespaces.Register(ns);
        var clientOptions = new KvTierClientOptions
        {
            Transport = DataPlaneTransportMode.RequireRdma,
            RequestTimeout = TimeSpan.FromSeconds(120), // software CPU emulation in the Soft-RoCE guest is slow
            MembershipCacheTime = TimeSpan.Zero,
            RdmaStagingBytes = 8 << 20,
        };
        await using var client = new KvTierClient(node.Directory, clientOptions, log);
        var chain = Chain(Blocks, seed: 1);
        var source = new byte[KvTierClient.BufferBytes(ns, Blocks, ns.Layout.Layers)];
        new Random(2).NextBytes(source);

        clock.Restart();
        var stored = await client.StoreAsync(ns, chain, 0, source, token);
        var storeSeconds = clock.Elapsed.TotalSeconds;
        var prefix = await client.LookupAsync(ns, chain, token);
        var loaded = new byte[source.Length];
        clock.Restart();
        var load = await client.LoadAsync(ns, prefix, loaded, null, token);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        var channel = (RdmaNodeChannel)(await client.GetChannelAsync(node.Info.Id, token))!;
        var chunks = Blocks * ns.Layout.Layers;
        check(stored.Stored == Blocks && channel.ChunksWrittenOverRdma == chunks,
            $"client: {Blocks} blocks ({source.Length >> 10} KiB) stored by RDMA WRITE into reservations [{stored}, " +
            $"{channel.ChunksWrittenOverRdma} chunks written]");
        check(prefix.Hits.Length == Blocks, $"client: the directory finds the {Blocks}-block prefix [{prefix.Hits.Length} hits]");
        check(load.LoadedBlocks == Blocks && loaded.AsSpan().SequenceEqual(source) && channel.ChunksReadOverRdma == chunks,
            $"client: {Blocks} blocks loaded by RDMA READ of leased extents, every byte equal to what was stored [{load}, " +
            $"{channel.ChunksReadOverRdma} chunks read and verified]");
        check(client.Transports.TryGetValue(node.Info.Id, out var transport) && transport == DataPlaneTransport.Rdma
              && log.Once("RDMA: both ends"),
            $"client: Transports says {transport} and the log says so once [{log.Last("Data plane of node")}]");
        check(node.RdmaServer.ConnectionCount == 1 && node.Metrics.Render().Contains("kvtier_rdma_connections 1", StringComparison.Ordinal)
              && node.Store.GetStats().ActiveLeases == 0,
            "node: kvtier_rdma_connections 1, and every lease released");
        Console.WriteLine($"client over RDMA (informational): store {source.Length / storeSeconds / 1e6:F1} MB/s, " +
                          $"load {source.Length / loadSeconds / 1e6:F1} MB/s ({Blocks} blocks of {ns.Layout.Layers} x " +
                          $"{ns.Layout.BytesPerLayerChunk >> 10} KiB)");

        var dropped = node.RdmaServer.DisconnectAll();
        Array.Clear(loaded);
        var reconnectsBefore = channel.Reconnects;
        var again = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, token), loaded, null, token);
        check(dropped == 1 && again.LoadedBlocks == Blocks && loaded.AsSpan().SequenceEqual(source)
              && channel.Reconnects == reconnectsBefore + 1 && node.RdmaServer.ConnectionCount == 1,
            $"client: after the node dropped its queue pair, the next load reconnects through ConnectRdma and loads every " +
            $"block [{again}, {channel.Reconnects - reconnectsBefore} reconnect]");

        // The lying arena's client drops the refused block from the directory, as any client that meets a corrupt
        // copy does, so the blocks after it are no longer found: this runs after the checks that load them all.
        var engine = (StorageEngine)node.Store;
        await CheckClientVerificationAsync(node, engine, ns, chain, source, clientOptions, log, deviceName, check, token);

        var corrupted = Blocks / 3;
        var extent = Extents(engine, ns, chain[corrupted])[0];
        unsafe
        {
            ((byte*)engine.ArenaAddress)[extent.ArenaOffset + (extent.Length / 2)] ^= 0x40;
        }

        var refused = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, token), loaded, null, token);
        check(refused.LoadedBlocks == corrupted && refused.FirstFailure?.Contains("Corrupt", StringComparison.Ordinal) == true,
            $"node: a chunk corrupted in the arena is refused at lease time, the load ends before its block [{refused}]");
    }

    /// <summary>A second client whose queue-pair exchange answers with a copy of the node's arena in which one byte of
    /// one chunk differs: the node's lease check passed (it checks its own arena), so only the client's XXH3 check
    /// over the bytes that arrived can refuse the chunk.</summary>
    private static async Task CheckClientVerificationAsync(NodeHost node, StorageEngine engine, KvNamespace ns, BlockKey[] chain, byte[] source,
        KvTierClientOptions options, ILogger log, string? deviceName, Action<bool, string> check, CancellationToken token)
    {
        var copy = GC.AllocateArray<byte>((int)engine.ArenaLength, pinned: true);
        Marshal.Copy(engine.ArenaAddress, copy, 0, copy.Length);
        var corrupted = Blocks / 2;
        var extent = Extents(engine, ns, chain[corrupted])[1];
        copy[(int)extent.ArenaOffset + (extent.Length / 2)] ^= 0x10;
        using var context = RdmaContext.Open(deviceName);
        using var server = new RdmaArenaServer(context, Marshal.UnsafeAddrOfPinnedArrayElement(copy, 0), (ulong)copy.Length);
        using var factory = new NodeChannelFactory(options, DataPlaneSecurity.ConnectionOptions(options), log);
        await using var client = new KvTierClient(node.Directory, options, log,
            info => factory.OpenRdma(info, (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint))));
        var loaded = new byte[source.Length];

        var load = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, token), loaded, null, token);

        var channel = (RdmaNodeChannel)(await client.GetChannelAsync(node.Info.Id, token))!;
        var chunk = ns.Layout.BytesPerLayerChunk;
        var prefixEqual = Enumerable.Range(0, ns.Layout.Layers).All(layer =>
            loaded.AsSpan(layer * Blocks * chunk, corrupted * chunk).SequenceEqual(source.AsSpan(layer * Blocks * chunk, corrupted * chunk)));
        check(load.LoadedBlocks == corrupted && load.FirstFailure?.Contains("Corrupt", StringComparison.Ordinal) == true
              && channel.FailedTransfers == 1 && prefixEqual,
            $"client: a chunk that changed after the node's lease check is refused by the client's XXH3 check over real READs " +
            $"[{load}, {channel.FailedTransfers} failed transfer]");
    }

    private static ChunkExtent[] Extents(StorageEngine engine, KvNamespace ns, BlockKey key)
    {
        var extents = new ChunkExtent[ns.Layout.Layers];
        var lease = engine.Read(new BlockId(ns.Id, key), 0, extents.Length, TimeSpan.FromSeconds(5), extents);
        if (lease.Status != ReadStatus.Hit || !engine.ReleaseLease(lease.LeaseId))
        {
            throw new InvalidOperationException($"block {key} is not in the node's arena ({lease.Status})");
        }

        return extents;
    }

    private static BlockKey[] Chain(int length, int seed)
    {
        var random = new Random(seed);
        var keys = new BlockKey[length];
        Span<byte> bytes = stackalloc byte[BlockKey.Size];
        for (var i = 0; i < length; i++)
        {
            random.NextBytes(bytes);
            keys[i] = BlockKey.FromBytes(bytes);
        }

        return keys;
    }

    /// <summary>Prints the client's warnings and transport lines, and remembers them for the checks.</summary>
    private sealed class LineLogger : ILogger
    {
        private readonly List<string> lines = [];

        public bool Once(string text)
        {
            lock (lines)
            {
                return lines.Count(l => l.Contains(text, StringComparison.Ordinal)) == 1;
            }
        }

        public string? Last(string text)
        {
            lock (lines)
            {
                return lines.LastOrDefault(l => l.Contains(text, StringComparison.Ordinal));
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var line = formatter(state, exception);
            lock (lines)
            {
                lines.Add(line);
            }

            Console.WriteLine($"  log {logLevel}: {line}");
        }
    }
}
