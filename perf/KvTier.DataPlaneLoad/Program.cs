using System.Globalization;
using KvTier.BlockDirectory;
using KvTier.Client;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.DataPlaneLoad;
using KvTier.Perf;

// Batched block loads and stores, same payloads, same run: the KvTier client against a node (loopback TCP; loads
// verified and decoded into the caller's buffer, stores encoded, reserved, written and committed), a raw loopback
// socket that just moves the bytes, and redis-server (MGET for loads, pipelined SETs for stores).
// Each operation moves one batch: 32 x 64 KiB or 4 x 2 MiB blocks (2 and 8 MiB per operation).
// "kvtier" is the client over the TCP data plane; "kvtier shm" the same client through the node's arena file (the node
// shares it through /dev/shm with writes allowed, as a node on the engine's host may): loads lease over TCP and copy
// out of the mapping, stores reserve and commit over TCP and copy into the reserved extents.
//   KvTier.DataPlaneLoad [seconds per cell] [--ops=loads,stores] [--systems=kvtier,shm,raw,redis] [--blocks=64,2048] [--clients=1,4,16]
var seconds = 3.0;
var ops = new[] { "loads", "stores" };
var systems = new[] { "kvtier", "shm", "raw", "redis" };
var blockSizes = new[] { 64, 2048 };
var clientCounts = new[] { 1, 4, 16 };
foreach (var arg in args)
{
    var (name, value) = arg.Split('=', 2) is [var n, var v] ? (n, v.Split(',')) : (arg, []);
    switch (name)
    {
        case "--ops": ops = value; break;
        case "--systems": systems = value; break;
        case "--blocks": blockSizes = [.. value.Select(int.Parse)]; break;
        case "--clients": clientCounts = [.. value.Select(int.Parse)]; break;
        default: seconds = double.Parse(arg, CultureInfo.InvariantCulture); break;
    }
}

var duration = TimeSpan.FromSeconds(seconds);
Console.WriteLine($"# {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}, {DateTime.UtcNow:u}, {seconds} s per cell");
Console.WriteLine("| op | block | batch | clients | system | GB/s | p50 ms | p99 ms | CPU ms/op | ratio vs raw | ratio vs raw, same payloads | ratio vs redis |");
Console.WriteLine("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
var (redisProcess, redisEndpoint) = await LocalRedisServer.StartAsync();
Measurement.AlsoCounted.Add(redisProcess);
var cells = ops.Length * blockSizes.Length * clientCounts.Length;
var cell = 0;
try
{
    var redis = new RedisBaseline(redisEndpoint);
    foreach (var blockKiB in blockSizes)
    {
        var blockBytes = blockKiB << 10;
        var batch = blockKiB == 64 ? 32 : 4;
        var batchBytes = (long)batch * blockBytes;
        // One layer per block, so a block is one chunk of the size under test.
        var ns = new KvNamespace("load", "main", new KvLayout(1, 8, 128, KvDataType.BFloat16, blockBytes / 4096), "perf",
            BlockHashAlgorithm.Xxh3, "none", 1000);
        var blocks = (64 << 20) / blockBytes; // 64 MiB of distinct blocks
        var chain = Enumerable.Range(0, blocks).Select(i => new BlockKey((ulong)i + 1, 0x5eed)).ToArray();
        var source = new byte[(long)blocks * blockBytes];
        new Random(1).NextBytes(source);

        await using var node = await LoadNode.StartAsync(ns, 256L << 20);
        await using var client = new KvTierClient(node.Directory, new KvTierClientOptions { ConnectionsPerNode = 4, UseSharedMemory = false });
        await using var sharedClient = new KvTierClient(node.Directory, new KvTierClientOptions { ConnectionsPerNode = 4 });
        var stored = await client.StoreAsync(ns, chain, 0, source);
        var full = await client.LookupAsync(ns, chain);
        if (stored.Failed > 0 || full.HitCount != blocks)
        {
            throw new InvalidOperationException($"Setup stored {stored} and found {full.HitCount} of {blocks} blocks.");
        }

        await using var raw = RawSocket.Start(source, checked((int)batchBytes));
        var batchOffsets = Enumerable.Range(0, blocks - batch).Select(first => first * blockBytes).ToArray();
        await redis.FillAsync(blocks, blockBytes, source);
        var storeCounter = 1L << 40;

        // Batched loads of random runs of the stored blocks, or stores of fresh keys (a store of blocks the node holds
        // already moves no bytes), through one client.
        Task<Figures> MeasureClientAsync(KvTierClient through, bool loads, int clients) => loads
            ? Measurement.RunAsync(clients, duration, _ => new byte[batchBytes], async (buffer, random) =>
            {
                var first = random.Next(0, blocks - batch);
                var result = await through.LoadAsync(ns, new PrefixLookup(full.Hits.Slice(first, batch)), buffer);
                if (result.LoadedBlocks != batch)
                {
                    throw new InvalidOperationException($"Load returned {result.LoadedBlocks} of {batch}: {result.FirstFailure}");
                }
            })
            : Measurement.RunAsync(clients, duration, _ => new BlockKey[batch], async (keys, random) =>
            {
                for (var i = 0; i < batch; i++)
                {
                    keys[i] = new BlockKey((ulong)Interlocked.Increment(ref storeCounter), 0x5707e);
                }

                var first = random.Next(0, blocks - batch);
                var result = await through.StoreAsync(ns, keys, 0, source.AsMemory(first * blockBytes, (int)batchBytes));
                if (result.Stored != batch)
                {
                    throw new InvalidOperationException($"Store returned {result}.");
                }
            });
        foreach (var op in ops)
        {
            foreach (var clients in clientCounts)
            {
                Console.Error.WriteLine($"# [{++cell}/{cells}] {op}, {blockKiB} KiB x {batch}, {clients} clients ({DateTime.UtcNow:HH:mm:ss})");
                var figures = new Dictionary<string, Figures>();
                var loads = op == "loads";
                if (systems.Contains("raw"))
                {
                    figures["raw socket"] = await raw.MeasureAsync(!loads, (int)batchBytes, clients, duration);
                    if (loads)
                    {
                        figures[SamePayloads] = await raw.MeasureAsync(false, (int)batchBytes, clients, duration, batchOffsets);
                    }
                }

                if (systems.Contains("redis"))
                {
                    figures[loads ? "redis MGET" : "redis SET pipelined"] = loads
                        ? await redis.MeasureLoadsAsync(blocks, batch, clients, duration)
                        : await redis.MeasureStoresAsync(blocks, blockBytes, batch, source, clients, duration);
                }

                if (systems.Contains("kvtier"))
                {
                    figures["kvtier"] = await MeasureClientAsync(client, loads, clients);
                }

                if (systems.Contains("shm") && node.Shared)
                {
                    figures["kvtier shm"] = await MeasureClientAsync(sharedClient, loads, clients);
                    if (sharedClient.Transports.Values.Single() != KvTier.Rdma.DataPlaneTransport.SharedMemory)
                    {
                        throw new InvalidOperationException($"The shared-memory client went over {sharedClient.Transports.Values.Single()}.");
                    }
                }

                Print(op, blockKiB, batch, clients, batchBytes, figures);
            }
        }
    }
}
finally
{
    redisProcess.Kill(entireProcessTree: true);
}

static void Print(string op, int blockKiB, int batch, int clients, long batchBytes, Dictionary<string, Figures> figures)
{
    var rawRate = figures.TryGetValue("raw socket", out var r) ? r.PerSecond : double.NaN;
    var sameRate = figures.TryGetValue(SamePayloads, out var same) ? same.PerSecond : double.NaN;
    var redisRate = figures.FirstOrDefault(f => f.Key.StartsWith("redis", StringComparison.Ordinal)).Value.PerSecond;
    foreach (var (name, f) in figures.OrderBy(f => f.Key.StartsWith("kvtier", StringComparison.Ordinal) ? 0 : f.Key == "raw socket" ? 1 : f.Key == SamePayloads ? 2 : 3))
    {
        var vsRaw = name.StartsWith("raw", StringComparison.Ordinal) || double.IsNaN(rawRate) ? "" : $"{f.PerSecond / rawRate:F2}x";
        var vsSame = name.StartsWith("raw", StringComparison.Ordinal) || double.IsNaN(sameRate) ? "" : $"{f.PerSecond / sameRate:F2}x";
        var vsRedis = name.StartsWith("redis", StringComparison.Ordinal) || redisRate == 0 ? "" : $"{f.PerSecond / redisRate:F2}x";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {op} | {blockKiB} KiB | {batch} | {clients} | {name} | {f.PerSecond * batchBytes / 1e9:F2} | {f.P50Ms:F2} | {f.P99Ms:F2} | {f.CpuMsPerOp:F2} | {vsRaw} | {vsSame} | {vsRedis} |"));
    }
}

internal static partial class Program
{
    /// <summary>The raw download of a random batch of the 64 MiB of distinct blocks the node and redis serve (cold
    /// like theirs), beside the raw download of the same hot bytes every time.</summary>
    private const string SamePayloads = "raw socket, same payloads";
}
