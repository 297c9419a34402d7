using System.Text;
using KvTier.BlockDirectory.Redis;
using KvTier.Testing;
using StackExchange.Redis;

namespace KvTier.BlockDirectory.Tests;

/// <summary>Values written into our keys by something else are treated as absent and counted, never a crash.</summary>
public sealed class RedisRecordValidationTests : IAsyncLifetime
{
    private readonly RedisDirectoryOptions options = RedisTestOptions.Isolated(RedisEndpoints.RequireSingle());
    private RedisBlockDirectory directory = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private IDatabase Raw => directory.Connection.GetDatabase();

    public async ValueTask InitializeAsync() => directory = await RedisBlockDirectory.ConnectAsync(options);

    public async ValueTask DisposeAsync() => await directory.DisposeAsync();

    [Fact]
    public async Task Malformed_location_values_are_treated_as_absent_and_counted()
    {
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        var chain = TestChains.NewChain(5);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 5), Token);
        var keys = new RedisKeys(options.KeyPrefix);
        var field = RecordFormat.NodeField(node.Id);
        var good = (byte[])(await Raw.HashGetAsync(keys.Block(ns, DirectoryKey.InChain(chain, 0)), field))!;

        // Position 1: a value of the wrong length; 2: a future record version; 3: not a hash at all.
        await Raw.HashSetAsync(keys.Block(ns, DirectoryKey.InChain(chain, 1)), field, "garbage");
        await Raw.HashSetAsync(keys.Block(ns, DirectoryKey.InChain(chain, 2)), field, (byte[])[2, .. good.AsSpan(1)]);
        await Raw.KeyDeleteAsync(keys.Block(ns, DirectoryKey.InChain(chain, 3)));
        await Raw.StringSetAsync(keys.Block(ns, DirectoryKey.InChain(chain, 3)), "someone else's string");

        var result = await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token);
        Assert.Equal(1, result.HitCount);
        Assert.Equal(1, directory.Counters.MalformedRecords);

        var found = await directory.ContainsAsync(ns, DirectoryKey.ForChain(chain), Token);
        Assert.Equal(new[] { true, false, false, false, true }, found);
        Assert.Equal(4, directory.Counters.MalformedRecords);

        // A publication onto a key that holds something else is refused and counted, not thrown.
        var publish = await directory.PublishAsync(ns, TestChains.Publications(chain, node, 3, 1), Token);
        Assert.Equal(new PublishResult(0, 1), publish);
    }

    [Fact]
    public async Task A_record_with_a_valid_header_but_an_unknown_tier_is_absent()
    {
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        var chain = TestChains.NewChain(2);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 2), Token);
        var key = new RedisKeys(options.KeyPrefix).Block(ns, DirectoryKey.InChain(chain, 1));
        var field = RecordFormat.NodeField(node.Id);
        var record = (byte[])(await Raw.HashGetAsync(key, field))!;
        record[1] = 77;
        await Raw.HashSetAsync(key, field, record);

        Assert.Equal(1, (await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token)).HitCount);
        Assert.Equal(1, directory.Counters.MalformedRecords);
    }

    [Fact]
    public async Task An_unreadable_node_record_makes_that_node_absent()
    {
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        var keys = new RedisKeys(options.KeyPrefix);
        await Raw.StringSetAsync(keys.Node(node.Id), Encoding.UTF8.GetBytes("not a node record at all, but long enough"), TimeSpan.FromMinutes(5));

        Assert.Empty(await directory.GetLiveNodesAsync(Token));
        Assert.True(directory.Counters.MalformedRecords >= 1);
        await Assert.ThrowsAsync<InvalidDataException>(async () => await directory.HeartbeatAsync(node.Id, 0, TimeSpan.FromMinutes(1), Token));
    }
}
