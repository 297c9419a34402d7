using System.Globalization;
using System.Text.RegularExpressions;
using KvTier.BlockDirectory.Redis;
using KvTier.Testing;
using StackExchange.Redis;

namespace KvTier.BlockDirectory.Tests;

/// <summary>How many commands a lookup costs, read from the servers' own statistics (INFO commandstats). Runs alone
/// (no parallel tests), because the cluster is shared and its statistics count every client.</summary>
[Collection(nameof(CommandCountingCollection))]
public sealed partial class RedisRoundTripTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(8)]
    [InlineData(512)]
    [InlineData(5000)]
    public async Task A_lookup_on_a_single_server_is_one_script_call_per_4096_keys(int length)
    {
        using var server = await TestRedisServer.StartAsync();
        var options = RedisTestOptions.Isolated(server.Endpoint) with { MembershipCacheTime = TimeSpan.FromMinutes(5) };
        await using var directory = await RedisBlockDirectory.ConnectAsync(options);
        var (ns, chain) = await PublishedChainAsync(directory, length);
        await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token); // loads the script and the membership view
        await using var adminConnection = await AdminAsync(server.Endpoint);
        var admin = adminConnection.GetServer(server.Endpoint);
        await admin.ExecuteAsync("CONFIG", "RESETSTAT");

        for (var lookup = 0; lookup < 10; lookup++)
        {
            Assert.Equal(length, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);
        }

        var calls = await CommandCallsAsync(admin);
        var perLookup = (length + RedisBlockDirectory.KeysPerScript - 1) / RedisBlockDirectory.KeysPerScript;
        Assert.Equal(10 * perLookup, calls.GetValueOrDefault("evalsha"));
        Assert.Equal(10 * perLookup, calls.Where(pair => pair.Key is "evalsha" or "eval").Sum(pair => pair.Value));
    }

    [Fact]
    public async Task A_lookup_on_a_cluster_is_one_script_call_per_span_sent_together()
    {
        var options = RedisTestOptions.Isolated(RedisEndpoints.RequireCluster()) with { MembershipCacheTime = TimeSpan.FromMinutes(5) };
        await using var directory = await RedisBlockDirectory.ConnectAsync(options);
        var (ns, chain) = await PublishedChainAsync(directory, 512);
        await using var adminConnection = await AdminAsync(options.Endpoints);
        var masters = adminConnection.GetServers().Where(server => !server.IsReplica).ToArray();
        await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token);
        var before = await Task.WhenAll(masters.Select(CommandCallsAsync));

        Assert.Equal(512, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);

        var after = await Task.WhenAll(masters.Select(CommandCallsAsync));
        long Delta(string command) => Enumerable.Range(0, masters.Length)
            .Sum(index => after[index].GetValueOrDefault(command) - before[index].GetValueOrDefault(command));
        Assert.Equal(512 / DirectoryKey.SpanLength, Delta("evalsha"));
        Assert.Equal(0, Delta("eval")); // commands run inside the scripts (HGETALL) are counted too, so only script calls are compared
    }

    [Fact]
    public async Task One_namespace_spreads_over_every_cluster_master()
    {
        var options = RedisTestOptions.Isolated(RedisEndpoints.RequireCluster());
        await using var directory = await RedisBlockDirectory.ConnectAsync(options);
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        for (var prompt = 0; prompt < 60; prompt++)
        {
            var chain = TestChains.NewChain(4);
            await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 4), Token);
        }

        var keys = new RedisKeys(options.KeyPrefix);
        var perMaster = await Task.WhenAll(directory.Connection.GetServers().Where(server => !server.IsReplica)
            .Select(async server => (await server.KeysAsync(0, keys.NamespacePattern(ns)).ToListAsync(Token)).Count));

        Assert.Equal(3, perMaster.Length);
        Assert.Equal(240, perMaster.Sum());
        Assert.All(perMaster, count => Assert.True(count > 0, $"a master holds none of the namespace's keys: {string.Join(", ", perMaster)}"));
    }

    private static async Task<(Core.NamespaceId Ns, Core.BlockKey[] Chain)> PublishedChainAsync(RedisBlockDirectory directory, int length)
    {
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        var chain = TestChains.NewChain(length);
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, length), Token);
        return (ns, chain);
    }

    private static async Task<ConnectionMultiplexer> AdminAsync(string endpoints) =>
        await ConnectionMultiplexer.ConnectAsync($"{endpoints},allowAdmin=true");

    private static async Task<Dictionary<string, long>> CommandCallsAsync(IServer server)
    {
        var text = (string)(await server.ExecuteAsync("INFO", "commandstats"))!;
        return CommandStat().Matches(text).ToDictionary(match => match.Groups[1].Value, match => long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"cmdstat_([a-z|]+):calls=(\d+)")]
    private static partial Regex CommandStat();
}

[CollectionDefinition(nameof(CommandCountingCollection), DisableParallelization = true)]
public sealed class CommandCountingCollection;
