namespace KvTier.Testing;

/// <summary>The Redis services that <c>./build.sh test</c> starts (eng/services.sh), or a skip with the reason.</summary>
internal static class RedisEndpoints
{
    /// <summary>host:port of one redis-server.</summary>
    public const string SingleVariable = "KVTIER_TEST_REDIS";

    /// <summary>host:port,host:port,host:port of a three-master Redis Cluster.</summary>
    public const string ClusterVariable = "KVTIER_TEST_REDIS_CLUSTER";

    /// <summary>The single server's endpoint; skips where the variable is unset (tests run outside ./build.sh test).</summary>
    public static string RequireSingle() => Require(SingleVariable, "a redis-server");

    /// <summary>The cluster's endpoints; skips where the variable is unset (tests run outside ./build.sh test).</summary>
    public static string RequireCluster() => Require(ClusterVariable, "a three-master Redis Cluster");

    private static string Require(string variable, string what)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        Assert.SkipWhen(string.IsNullOrWhiteSpace(value),
            $"{variable} is unset: this test needs {what}, which ./build.sh test starts (eng/services.sh).");
        return value!;
    }
}
