using System.Diagnostics;
using KvTier.BlockDirectory.Redis;
using KvTier.Testing;
using StackExchange.Redis;

namespace KvTier.BlockDirectory.Tests;

/// <summary>A cluster master dies: spans on the other shards still answer, the prefix ends at the first lost span.</summary>
public sealed class RedisClusterShardLossTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_lost_cluster_shard_truncates_the_prefix_at_its_first_span_and_marks_it_degraded()
    {
        var nodes = new List<TestRedisServer>();
        try
        {
            for (var index = 0; index < 3; index++)
            {
                nodes.Add(await TestRedisServer.StartClusterNodeAsync("--cluster-require-full-coverage", "no", "--cluster-node-timeout", "15000"));
            }

            await CreateClusterAsync(nodes);
            var options = RedisTestOptions.Isolated(string.Join(',', nodes.Select(node => node.Endpoint))) with
            {
                MembershipCacheTime = TimeSpan.FromMinutes(5),
                AsyncTimeout = TimeSpan.FromSeconds(2),
            };
            await using var directory = await RedisBlockDirectory.ConnectAsync(options);
            var ns = TestChains.NewNamespace();
            var node = TestChains.NewNode();
            var chain = TestChains.NewChain(DirectoryKey.SpanLength * 12);
            await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
            await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, chain.Length), Token);
            Assert.Equal(chain.Length, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);

            // Lose the master of some span after the first (the membership slot's master stays, so the view is kept).
            var keys = new RedisKeys(options.KeyPrefix);
            var spanOwners = Enumerable.Range(0, 12)
                .Select(span => directory.Connection.GetServer(keys.Block(ns, DirectoryKey.InChain(chain, span * DirectoryKey.SpanLength))).EndPoint.ToString())
                .ToArray();
            var registryOwner = directory.Connection.GetServer(keys.Registry).EndPoint.ToString();
            var victimSpan = Enumerable.Range(1, 11).FirstOrDefault(span => spanOwners[span] != spanOwners[0] && spanOwners[span] != registryOwner);
            Assert.SkipWhen(victimSpan == 0, "All spans happened to share the first span's or the registry's master (random keys); nothing to lose.");
            var victim = nodes.Single(server => spanOwners[victimSpan]!.EndsWith($":{server.Port}", StringComparison.Ordinal));
            var firstLost = Array.FindIndex(spanOwners, owner => owner == spanOwners[victimSpan]);

            victim.Stop();
            var result = await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token);

            Assert.True(result.Degraded);
            Assert.Equal(firstLost * DirectoryKey.SpanLength, result.HitCount);
        }
        finally
        {
            foreach (var server in nodes)
            {
                server.Dispose();
            }
        }
    }

    private static async Task CreateClusterAsync(List<TestRedisServer> nodes)
    {
        var start = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["--cluster", "create", .. nodes.Select(node => node.Endpoint), "--cluster-replicas", "0", "--cluster-yes"])
        {
            start.ArgumentList.Add(argument);
        }

        using (var create = Process.Start(start)!)
        {
            var output = await create.StandardOutput.ReadToEndAsync(Token);
            await create.WaitForExitAsync(Token);
            Assert.True(create.ExitCode == 0, $"redis-cli --cluster create failed: {output}");
        }

        await TestChains.EventuallyAsync(async () =>
        {
            foreach (var node in nodes)
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync($"{node.Endpoint},allowAdmin=true");
                var info = (string)(await connection.GetServer(node.Endpoint).ExecuteAsync("CLUSTER", "INFO"))!;
                if (!info.Contains("cluster_state:ok", StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }, "the private cluster reached cluster_state:ok");
    }
}
