using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.BlockDirectory.Redis;
using KvTier.Core;
using KvTier.DirectoryLoad;
using KvTier.Perf;
using StackExchange.Redis;

// Usage: KvTier.DirectoryLoad [--redis host:port] [--seconds N] [--concurrency N]
// Without --redis it starts its own redis-server on a free loopback port (persistence off) and stops it at the end.
var arguments = args.ToList();
string? Option(string name, string? fallback)
{
    var at = arguments.IndexOf(name);
    return at >= 0 && at + 1 < arguments.Count ? arguments[at + 1] : fallback;
}

if (arguments.Contains("-help") || arguments.Contains("--help"))
{
    Console.WriteLine("KvTier.DirectoryLoad [--redis host:port] [--seconds N (default 3)] [--concurrency N (default 16)]");
    return 0;
}

var seconds = TimeSpan.FromSeconds(double.Parse(Option("--seconds", "3")!, CultureInfo.InvariantCulture));
var concurrency = int.Parse(Option("--concurrency", "16")!, CultureInfo.InvariantCulture);
Process? ownServer = null;
var endpoint = Option("--redis", null);
if (endpoint is null)
{
    (ownServer, endpoint) = await LocalRedisServer.StartAsync();
}

try
{
    var (host, port) = (endpoint.Split(':')[0], endpoint.Split(':')[1]);
    Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; redis at {endpoint}; {DateTime.UtcNow:u}");
    Console.WriteLine($"# {seconds.TotalSeconds:0} s per figure; 'c=1' is one lookup in flight (latency), 'c={concurrency}' is {concurrency} in flight (rate)");

    Console.WriteLine();
    Console.WriteLine("## redis-benchmark baseline (GET, same server)");
    foreach (var clients in new[] { 1, 50 })
    {
        Console.WriteLine($"redis-benchmark -t get -c {clients}: {RedisBenchmark(host, port, clients)}");
    }

    await using var redis = await RedisBlockDirectory.ConnectAsync(new RedisDirectoryOptions
    {
        Endpoints = endpoint,
        KeyPrefix = $"load{Guid.NewGuid():n}:",
        MembershipCacheTime = TimeSpan.FromSeconds(1),
    });
    await using var admin = await ConnectionMultiplexer.ConnectAsync($"{endpoint},allowAdmin=true");
    var server = admin.GetServer(endpoint);
    await using var inProcess = new InProcessBlockDirectory();

    Console.WriteLine();
    Console.WriteLine("| directory | chain | c | lookups/s | p50 µs | p99 µs | p99.9 µs | commands/lookup | server µs/lookup |");
    Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    foreach (var length in new[] { 8, 64, 512 })
    {
        foreach (var (name, directory) in new (string, IBlockDirectory)[] { ("redis", redis), ("in-process", inProcess) })
        {
            var (ns, chain) = await PublishedChainAsync(directory, length);
            var lookup = () => Check(directory.LookupPrefixAsync(ns, chain), length);
            foreach (var inFlight in new[] { 1, concurrency })
            {
                if (name == "redis")
                {
                    await server.ExecuteAsync("CONFIG", "RESETSTAT");
                }

                var figures = await LatencyRecorder.RunAsync(lookup, inFlight, seconds);
                var (commands, serverMicros) = ("-", "-");
                if (name == "redis")
                {
                    var (calls, micros) = await ScriptCallsAsync(server);
                    var lookups = figures.Operations + LatencyRecorder.WarmUpOperations;
                    commands = (calls / (double)lookups).ToString("0.00", CultureInfo.InvariantCulture);
                    serverMicros = (micros / (double)lookups).ToString("0.0", CultureInfo.InvariantCulture);
                }

                Console.WriteLine($"| {name} | {length} | {inFlight} | {figures.PerSecond:N0} | {figures.P50Micros:0.0} | {figures.P99Micros:0.0} | {figures.P999Micros:0.0} | {commands} | {serverMicros} |");
            }
        }
    }

    return 0;
}
finally
{
    if (ownServer is not null)
    {
        ownServer.Kill(entireProcessTree: true);
        await ownServer.WaitForExitAsync();
    }
}

static async ValueTask Check(ValueTask<PrefixLookup> pending, int expected)
{
    var result = await pending;
    if (result.HitCount != expected)
    {
        throw new InvalidOperationException($"Lookup found {result.HitCount} of {expected} blocks (degraded: {result.Degraded}).");
    }
}

static async Task<(NamespaceId, BlockKey[])> PublishedChainAsync(IBlockDirectory directory, int length)
{
    var ns = new NamespaceId((ulong)Random.Shared.NextInt64());
    var node = new NodeInfo(new NodeId((ulong)Random.Shared.NextInt64()), 1, "127.0.0.1:7400", "127.0.0.1:7401", false, 1L << 40, 1L << 39);
    await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(10));
    var chain = Enumerable.Range(0, length).Select(_ => new BlockKey((ulong)Random.Shared.NextInt64(), (ulong)Random.Shared.NextInt64())).ToArray();
    await directory.PublishAsync(ns, [.. Enumerable.Range(0, length).Select(index =>
        new BlockPublication(DirectoryKey.InChain(chain, index), new BlockLocation(node.Id, StorageTier.Host, 1 << 20, node.Epoch)))]);
    return (ns, chain);
}

// Script calls (the lookup's only commands; the commands a script runs are counted separately by Redis) and the
// server time they took, from INFO commandstats.
static async Task<(long Calls, long Micros)> ScriptCallsAsync(IServer server)
{
    var text = (string)(await server.ExecuteAsync("INFO", "commandstats"))!;
    var matches = Regex.Matches(text, @"cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)");
    return (matches.Sum(match => long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture)),
        matches.Sum(match => long.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)));
}

static string RedisBenchmark(string host, string port, int clients)
{
    var start = new ProcessStartInfo("redis-benchmark") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var argument in (string[])["-h", host, "-p", port, "-t", "get", "-n", clients == 1 ? "50000" : "300000", "-c", clients.ToString(), "-q"])
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    var output = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    var line = output.Split('\r', '\n').LastOrDefault(text => text.StartsWith("GET:", StringComparison.Ordinal));
    return line?.Trim() ?? "(redis-benchmark gave no GET line)";
}

