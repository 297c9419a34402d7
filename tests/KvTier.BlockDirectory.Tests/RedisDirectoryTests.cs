using KvTier.BlockDirectory.Redis;
using KvTier.Testing;

namespace KvTier.BlockDirectory.Tests;

public sealed class RedisSingleServerDirectoryTests : BlockDirectoryContract
{
    protected override async Task<IBlockDirectory> CreateDirectoryAsync() =>
        await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(RedisEndpoints.RequireSingle()));
}

public sealed class RedisClusterDirectoryTests : BlockDirectoryContract
{
    protected override async Task<IBlockDirectory> CreateDirectoryAsync() =>
        await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(RedisEndpoints.RequireCluster()));
}

internal static class RedisTestOptions
{
    /// <summary>Options with a key prefix no other test uses; membership read before every lookup.</summary>
    public static RedisDirectoryOptions Isolated(string endpoints) => new()
    {
        Endpoints = endpoints,
        KeyPrefix = $"t{Guid.NewGuid():n}:",
        MembershipCacheTime = TimeSpan.Zero,
        AsyncTimeout = TimeSpan.FromSeconds(5),
    };
}
