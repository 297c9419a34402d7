using KvTier.BlockDirectory;
using KvTier.BlockDirectory.Redis;
using KvTier.Core;
using KvTier.Node.Configuration;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Node.Tests;

/// <summary>A node publishing to a private, restartable redis-server.</summary>
public sealed class NodeHostRedisTests
{
    private static readonly NamespaceId Ns = new(0xAB);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task After_redis_restarts_empty_the_node_registers_again_and_republishes_its_blocks()
    {
        using var redis = await TestRedisServer.StartAsync();
        const string Prefix = "restart:";
        var options = new NodeOptions
        {
            NodeId = "redis-restart",
            DataPlane = { Host = "127.0.0.1", Port = 0 },
            ControlPlane = { Host = "127.0.0.1", Port = 0 },
            Http = { Host = "127.0.0.1", Port = 0 },
            Storage = { ArenaSize = new ByteSize(8L << 20), HugePages = false, LockMemory = false },
            Directory = { Kind = "redis", Redis = redis.Endpoint, KeyPrefix = Prefix, HeartbeatInterval = TimeSpan.FromMilliseconds(100) },
        };
        await using var reader = await RedisBlockDirectory.ConnectAsync(new RedisDirectoryOptions
        {
            Endpoints = redis.Endpoint,
            KeyPrefix = Prefix,
            MembershipCacheTime = TimeSpan.Zero,
        });
        await using var node = await NodeHost.StartAsync(options, (_, _) => new PingOnlyFrameHandler(), NullLoggerFactory.Instance, Token);
        var chain = new[] { new BlockKey(1, 2), new BlockKey(3, 4), new BlockKey(5, 6) };
        for (var i = 0; i < chain.Length; i++)
        {
            var id = new BlockId(Ns, chain[i]);
            var data = new byte[2048];
            node.Anchors.Record(id, DirectoryKey.InChain(chain, i).Anchor);
            var reservation = node.Store.Reserve(id, [ChunkInfo.Of(data)], TimeSpan.FromSeconds(10));
            Assert.Equal(CommitStatus.Committed, node.Store.Commit(reservation).Status);
        }

        await node.Publisher.FlushAsync(Token);
        Assert.Equal(3, (await reader.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount);

        await redis.RestartAsync(); // no persistence: the directory comes back empty
        while ((await reader.LookupPrefixAsync(Ns, chain, cancellationToken: Token)).HitCount < 3)
        {
            await Task.Delay(50, Token); // the next heartbeats notice the loss, register and re-publish
        }

        var lookup = await reader.LookupPrefixAsync(Ns, chain, cancellationToken: Token);
        Assert.All(lookup.Hits, hit => Assert.Equal(node.Info.Epoch, Assert.Single(hit.Locations).Epoch));
        Assert.True(node.DirectoryReachable);
        await node.Publisher.FlushAsync(Token);
        var published = node.Metrics.Render().Split('\n').Single(line => line.StartsWith("kvtier_directory_published_total ", StringComparison.Ordinal));
        Assert.True(long.Parse(published.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 6, published); // 3, then the same 3 again
    }
}
