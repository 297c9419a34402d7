using KvTier.BlockDirectory.Redis;
using KvTier.Testing;

namespace KvTier.BlockDirectory.Tests;

/// <summary>Connection settings, each against a redis-server configured to need it.</summary>
public sealed class RedisOptionsTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_password_protected_server_is_used_with_the_password_and_degrades_without_it()
    {
        using var server = await TestRedisServer.StartAsync("--requirepass", "s3cret");
        var chain = TestChains.NewChain(2);
        var ns = TestChains.NewNamespace();

        await using (var authorised = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint) with { Password = "s3cret" }))
        {
            await RoundTripAsync(authorised, ns, chain);
        }

        await using var refused = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint) with { Password = "wrong" });
        Assert.True((await refused.LookupPrefixAsync(ns, chain, cancellationToken: Token)).Degraded);
    }

    [Fact]
    public async Task An_acl_user_with_its_password_can_use_the_directory()
    {
        using var server = await TestRedisServer.StartAsync("--user", "default", "off", "--user", "kvtier", "on", ">pw", "~*", "&*", "+@all");

        await using var directory = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint) with { User = "kvtier", Password = "pw" });

        await RoundTripAsync(directory, TestChains.NewNamespace(), TestChains.NewChain(3));
    }

    [Fact]
    public async Task The_database_index_and_key_prefix_decide_where_keys_go()
    {
        using var server = await TestRedisServer.StartAsync();
        var options = RedisTestOptions.Isolated(server.Endpoint) with { Database = 3, KeyPrefix = "tenant-a:" };
        await using var directory = await RedisBlockDirectory.ConnectAsync(options);

        await RoundTripAsync(directory, TestChains.NewNamespace(), TestChains.NewChain(3));

        var admin = directory.Connection.GetServer(directory.Connection.GetEndPoints()[0]);
        var inDatabase3 = await admin.KeysAsync(3, "*").ToListAsync(Token);
        Assert.NotEmpty(inDatabase3);
        Assert.All(inDatabase3, key => Assert.StartsWith("tenant-a:kvt:", key.ToString()));
        Assert.Empty(await admin.KeysAsync(0, "*").ToListAsync(Token));
    }

    [Fact]
    public async Task A_tls_only_server_is_used_over_tls_with_a_private_certificate_authority()
    {
        using var tls = TestCertificates.Create();
        using var server = await TestRedisServer.StartAsync("--port", "0", "--tls-port", "{port}", "--tls-cert-file", tls.CertificatePath,
            "--tls-key-file", tls.KeyPath, "--tls-ca-cert-file", tls.CertificatePath, "--tls-auth-clients", "no");

        await using var directory = await RedisBlockDirectory.ConnectAsync(RedisTestOptions.Isolated(server.Endpoint) with
        {
            UseTls = true,
            TlsHost = "localhost",
            TlsTrustedIssuerPath = tls.CertificatePath,
        });

        await RoundTripAsync(directory, TestChains.NewNamespace(), TestChains.NewChain(3));
    }

    [Fact]
    public void Settings_map_onto_the_client_configuration()
    {
        var configuration = new RedisDirectoryOptions
        {
            Endpoints = "10.1.1.1:6380,10.1.1.2:6380",
            User = "u",
            Password = "p",
            UseTls = true,
            TlsHost = "redis.internal",
            Database = 2,
            ConnectTimeout = TimeSpan.FromMilliseconds(1500),
            SyncTimeout = TimeSpan.FromMilliseconds(700),
            AsyncTimeout = TimeSpan.FromMilliseconds(800),
        }.ToConfiguration();

        Assert.Equal(2, configuration.EndPoints.Count);
        Assert.Equal(("u", "p", true, "redis.internal", 2), (configuration.User, configuration.Password, configuration.Ssl, configuration.SslHost, configuration.DefaultDatabase));
        Assert.Equal((1500, 700, 800), (configuration.ConnectTimeout, configuration.SyncTimeout, configuration.AsyncTimeout));
        Assert.False(configuration.AbortOnConnectFail);
    }

    [Theory]
    [InlineData("has{brace")]
    [InlineData("glob*")]
    [InlineData("space here")]
    public void A_key_prefix_that_would_break_slot_tags_or_scans_is_refused(string prefix)
    {
        var error = Assert.Throws<ArgumentException>(() => new RedisDirectoryOptions { Endpoints = "localhost", KeyPrefix = prefix }.Validate());

        Assert.Contains(prefix, error.Message);
    }

    private static async Task RoundTripAsync(RedisBlockDirectory directory, Core.NamespaceId ns, Core.BlockKey[] chain)
    {
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        Assert.Equal(chain.Length, (await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, chain.Length), Token)).Published);
        Assert.Equal(chain.Length, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);
    }
}
