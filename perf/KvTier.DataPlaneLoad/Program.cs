using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Client;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Node;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Perf;
using KvTier.Storage;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

// Batched block loads, same payloads, same run: KvTier client -> node (loopback TCP, verified + decoded into the
// caller's buffer), a raw loopback socket that just streams the bytes, and redis-server MGET of the same values.
// Each operation moves one batch: 32 x 64 KiB or 4 x 2 MiB blocks (2 and 8 MiB per operation).
var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
var duration = TimeSpan.FromSeconds(seconds);
Console.WriteLine($"# {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, {DateTime.UtcNow:u}, {seconds} s per cell");
Console.WriteLine("| block | batch | clients | system | GB/s | p50 ms | p99 ms | ratio vs raw | ratio vs redis |");
Console.WriteLine("|---|---:|---:|---|---:|---:|---:|---:|---:|");
var (redisProcess, redisEndpoint) = await LocalRedisServer.StartAsync();
try
{
    foreach (var (blockBytes, batch, tokens) in new[] { (64 << 10, 32, 16), (2 << 20, 4, 512) })
    {
        var ns = new KvNamespace("load", "main", new KvLayout(1, 8, 128, KvDataType.BFloat16, tokens), "perf", BlockHashAlgorithm.Xxh3, "none", 1000);
        var blocks = 256 * (64 << 10) / blockBytes * 4; // 64 MiB of distinct blocks
        var chain = Enumerable.Range(0, blocks).Select(i => new BlockKey((ulong)i + 1, 0x5eed)).ToArray();
        var source = new byte[(long)blocks * blockBytes];
        new Random(1).NextBytes(source);

        await using var node = await LoadNode.StartAsync(ns);
        await using var client = new KvTierClient(node.Directory, new KvTierClientOptions { ConnectionsPerNode = 4 });
        var stored = await client.StoreAsync(ns, chain, 0, source);
        var full = await client.LookupAsync(ns, chain);
        if (stored.Failed > 0 || full.HitCount != blocks)
        {
            throw new InvalidOperationException($"Setup stored {stored} and found {full.HitCount} of {blocks} blocks.");
        }

        await using var raw = await RawServer.StartAsync(batch * blockBytes);
        var redisValues = await FillRedisAsync(redisEndpoint, blocks, blockBytes, source);
        foreach (var clients in new[] { 1, 4, 16 })
        {
            var batchBytes = (long)batch * blockBytes;
            var rawFigures = await RawServer.MeasureAsync(raw.EndPoint, batch * blockBytes, clients, duration);
            var redisFigures = await MeasureRedisAsync(redisEndpoint, blocks, batch, clients, duration);
            var kvtierFigures = await Measure(clients, duration, () => new byte[batchBytes], async (buffer, random) =>
            {
                var first = random.Next(0, blocks - batch);
                var prefix = new PrefixLookup(full.Hits.Slice(first, batch));
                var result = await client.LoadAsync(ns, prefix, buffer);
                if (result.LoadedBlocks != batch)
                {
                    throw new InvalidOperationException($"Load returned {result.LoadedBlocks} of {batch}: {result.FirstFailure}");
                }
            });
            foreach (var (name, figures) in new[] { ("kvtier", kvtierFigures), ("raw socket", rawFigures), ("redis MGET", redisFigures) })
            {
                var gbps = figures.PerSecond * batchBytes / 1e9;
                var vsRaw = name == "raw socket" ? "" : $"{gbps / (rawFigures.PerSecond * batchBytes / 1e9):F2}x";
                var vsRedis = name == "redis MGET" ? "" : $"{figures.PerSecond / redisFigures.PerSecond:F2}x";
                Console.WriteLine($"| {blockBytes >> 10} KiB | {batch} | {clients} | {name} | {gbps:F2} | {figures.P50Ms:F2} | {figures.P99Ms:F2} | {vsRaw} | {vsRedis} |");
            }
        }

        GC.KeepAlive(redisValues);
    }
}
finally
{
    redisProcess.Kill(entireProcessTree: true);
}

static async Task<Figures> Measure(int clients, TimeSpan duration, Func<byte[]> buffer, Func<byte[], Random, Task> operation)
{
    var warm = buffer();
    for (var i = 0; i < 50; i++)
    {
        await operation(warm, new Random(i));
    }

    var samples = new List<long>[clients];
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, clients).Select(worker => Task.Run(async () =>
    {
        var mine = samples[worker] = [];
        var random = new Random(worker);
        var destination = buffer();
        while (clock.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            await operation(destination, random);
            mine.Add(Stopwatch.GetTimestamp() - started);
        }
    })));
    var elapsed = clock.Elapsed;
    var all = samples.SelectMany(s => s).Order().ToArray();
    double Ms(double p) => all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1e3 / Stopwatch.Frequency;
    return new Figures(all.Length / elapsed.TotalSeconds, Ms(0.5), Ms(0.99));
}

static async Task<int> FillRedisAsync(string endpoint, int blocks, int blockBytes, byte[] source)
{
    await using var redis = await ConnectionMultiplexer.ConnectAsync(endpoint);
    var db = redis.GetDatabase();
    var writes = new List<Task>();
    for (var i = 0; i < blocks; i++)
    {
        writes.Add(db.StringSetAsync($"b{i}", source.AsMemory(i * blockBytes, blockBytes)));
    }

    await Task.WhenAll(writes);
    return blocks;
}

static async Task<Figures> MeasureRedisAsync(string endpoint, int blocks, int batch, int clients, TimeSpan duration)
{
    var connections = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => ConnectionMultiplexer.ConnectAsync(endpoint)));
    var next = -1;
    try
    {
        return await Measure(clients, duration, () => [], async (_, random) =>
        {
            var db = connections[(Interlocked.Increment(ref next) & int.MaxValue) % clients].GetDatabase();
            var first = random.Next(0, blocks - batch);
            var keys = Enumerable.Range(first, batch).Select(i => (RedisKey)$"b{i}").ToArray();
            var values = await db.StringGetAsync(keys);
            if (values.Any(v => v.IsNull))
            {
                throw new InvalidOperationException("redis lost a value");
            }
        });
    }
    finally
    {
        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }
    }
}

internal readonly record struct Figures(double PerSecond, double P50Ms, double P99Ms);

/// <summary>One node in this process: storage engine, data-plane handler, FrameServer on loopback, in-process directory.</summary>
internal sealed class LoadNode : IAsyncDisposable
{
    private readonly StorageEngine engine;
    private readonly FrameServer server;

    private LoadNode(StorageEngine engine, FrameServer server, IBlockDirectory directory)
    {
        this.engine = engine;
        this.server = server;
        Directory = directory;
    }

    public IBlockDirectory Directory { get; }

    public static async Task<LoadNode> StartAsync(KvNamespace ns)
    {
        var engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = 256L << 20, TryLockMemory = false });
        var registry = new NamespaceRegistry();
        registry.Register(ns);
        var handler = new BlockStoreFrameHandler(engine, registry, new NodeOptions(), NullLogger.Instance);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, handler.Limits, NullLogger.Instance);
        server.Start();
        var directory = new InProcessBlockDirectory();
        await directory.RegisterNodeAsync(new NodeInfo(new NodeId(1), 1, server.LocalEndPoint.ToString(), "127.0.0.1:1", false,
            engine.ArenaLength, engine.ArenaLength), TimeSpan.FromHours(1));
        return new LoadNode(engine, server, directory);
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        await Directory.DisposeAsync();
        engine.Dispose();
    }
}

/// <summary>The baseline: a loopback socket server that answers each 8-byte request with a fixed payload.</summary>
internal sealed class RawServer : IAsyncDisposable
{
    private readonly Socket listener;
    private readonly Task accepting;

    private RawServer(Socket listener, int payload)
    {
        this.listener = listener;
        var bytes = new byte[payload];
        new Random(2).NextBytes(bytes);
        accepting = Task.Run(async () =>
        {
            while (true)
            {
                Socket socket;
                try
                {
                    socket = await listener.AcceptAsync();
                }
                catch (Exception error) when (error is SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(async () =>
                {
                    using var connection = socket;
                    var request = new byte[8];
                    try
                    {
                        while (await connection.ReceiveAsync(request) == 8)
                        {
                            await connection.SendAsync(bytes);
                        }
                    }
                    catch (SocketException)
                    {
                    }
                });
            }
        });
    }

    public EndPoint EndPoint => listener.LocalEndPoint!;

    public static Task<RawServer> StartAsync(int payload)
    {
        var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        return Task.FromResult(new RawServer(listener, payload));
    }

    public static async Task<Figures> MeasureAsync(EndPoint endpoint, int payload, int clients, TimeSpan duration)
    {
        var sockets = new Socket[clients];
        for (var i = 0; i < clients; i++)
        {
            sockets[i] = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await sockets[i].ConnectAsync(endpoint);
        }

        try
        {
            return await MeasureRaw(sockets, payload, clients, duration);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    private static async Task<Figures> MeasureRaw(Socket[] sockets, int payload, int clients, TimeSpan duration)
    {
        var samples = new List<long>[clients];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(worker => Task.Run(async () =>
        {
            var mine = samples[worker] = [];
            var socket = sockets[worker];
            var buffer = new byte[payload];
            var request = new byte[8];
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await socket.SendAsync(request);
                var received = 0;
                while (received < payload)
                {
                    received += await socket.ReceiveAsync(buffer.AsMemory(received));
                }

                mine.Add(Stopwatch.GetTimestamp() - started);
            }
        })));
        var elapsed = clock.Elapsed;
        var all = samples.SelectMany(s => s).Order().ToArray();
        double Ms(double p) => all[Math.Min(all.Length - 1, (int)(p * all.Length))] * 1e3 / Stopwatch.Frequency;
        return new Figures(all.Length / elapsed.TotalSeconds, Ms(0.5), Ms(0.99));
    }

    public async ValueTask DisposeAsync()
    {
        listener.Dispose();
        await accepting;
    }
}
