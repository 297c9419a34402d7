using KvTier.BlockDirectory.Redis;
using KvTier.Testing;

namespace KvTier.Client.Tests;

public sealed class RedisDirectoryTests
{
    [Fact]
    public async Task Blocks_stored_through_a_Redis_directory_are_found_and_loaded_by_another_client()
    {
        var endpoint = RedisEndpoints.RequireSingle();
        var token = TestContext.Current.CancellationToken;
        var ns = TestCluster.Namespace();
        var options = new RedisDirectoryOptions
        {
            Endpoints = endpoint,
            KeyPrefix = $"client-test-{Guid.NewGuid():N}:",
            MembershipCacheTime = TimeSpan.Zero,
        };
        var directory = await RedisBlockDirectory.ConnectAsync(options);
        await using var cluster = await TestCluster.StartAsync(2, directory, ns);
        await using var writer = cluster.Client();
        await using var readerDirectory = await RedisBlockDirectory.ConnectAsync(options);
        await using var reader = new KvTierClient(readerDirectory);
        var chain = TestCluster.Chain(70, seed: 31); // crosses a 64-block span boundary
        var source = TestCluster.RandomBlocks(ns, 70, seed: 32);

        var stored = await writer.StoreAsync(ns, chain, 0, source, token);
        var prefix = await reader.LookupAsync(ns, chain, token);
        var destination = new byte[source.Length];
        var loaded = await reader.LoadAsync(ns, prefix, destination, null, token);

        Assert.Equal(new StoreResult(70, 0, 0), stored);
        Assert.Equal(70, prefix.HitCount);
        Assert.Equal(70, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }
}
