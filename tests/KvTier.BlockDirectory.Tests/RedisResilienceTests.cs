using KvTier.BlockDirectory.Redis;
using KvTier.Testing;
using Microsoft.Extensions.Logging;

namespace KvTier.BlockDirectory.Tests;

/// <summary>Redis going away and coming back, on a redis-server of the test's own.</summary>
public sealed class RedisResilienceTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_restarted_redis_degrades_reads_to_misses_and_recovers_without_throwing()
    {
        using var server = await TestRedisServer.StartAsync();
        var logger = new ListLogger();
        await using var directory = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint), logger);
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        var chain = TestChains.NewChain(10);
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 10), Token);
        Assert.Equal(10, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);

        server.Stop();

        var down = await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token);
        Assert.True(down.Degraded);
        Assert.Equal(0, down.HitCount);
        Assert.All(await directory.ContainsAsync(ns, DirectoryKey.ForChain(chain), Token), Assert.False);
        Assert.Empty(await directory.GetLiveNodesAsync(Token));
        Assert.Equal(new PublishResult(0, 10), await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 10), Token));
        Assert.True(directory.Counters.DegradedReads >= 3);
        Assert.Equal(10, directory.Counters.DroppedPublications);
        Assert.Contains(logger.Entries, entry => entry.Level == LogLevel.Warning && entry.Message.Contains("unreachable"));

        await server.StartAsync();

        // The restarted server is empty (no persistence); the directory reconnects on its own.
        await TestChains.EventuallyAsync(async () => !(await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).Degraded,
            "the directory reconnected");
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 10), Token);
        Assert.Equal(10, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);
    }

    [Fact]
    public async Task A_directory_created_while_redis_is_down_answers_misses_until_it_is_up()
    {
        using var server = await TestRedisServer.StartAsync();
        server.Stop();

        await using var directory = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint));
        var ns = TestChains.NewNamespace();
        var chain = TestChains.NewChain(3);
        Assert.True((await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).Degraded);

        await server.StartAsync();
        var node = TestChains.NewNode();
        await TestChains.EventuallyAsync(async () => !(await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).Degraded,
            "the directory connected");
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 3), Token);
        Assert.Equal(3, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);
    }
}
