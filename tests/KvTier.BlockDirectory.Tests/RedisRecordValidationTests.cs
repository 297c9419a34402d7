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
    public async Task Malformed_block_values_are_treated_as_absent_and_counted()
    {
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        var chain = TestChains.NewChain(6);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 6), Token);
        var keys = new RedisKeys(options.KeyPrefix);
        RedisKey KeyAt(int index) => keys.Block(ns, DirectoryKey.InChain(chain, index));
        var good = (byte[])(await Raw.StringGetAsync(KeyAt(0)))!;

        // 1: not our record at all; 2: a future record version; 3: a count that disagrees with the length;
        // 4: a key of another type (a hash), which the lookup's MGET sees as absent.
        await Raw.StringSetAsync(KeyAt(1), "garbage");
        await Raw.StringSetAsync(KeyAt(2), (byte[])[2, .. good.AsSpan(1)]);
        await Raw.StringSetAsync(KeyAt(3), (byte[])[.. good.AsSpan(0, 9), 2, .. good.AsSpan(10)]);
        await Raw.KeyDeleteAsync(KeyAt(4));
        await Raw.HashSetAsync(KeyAt(4), "field", "someone else's hash");

        var result = await directory.LookupPrefixAsync(ns, chain, cancellationToken: Token);
        Assert.Equal(1, result.HitCount);
        Assert.Equal(1, directory.Counters.MalformedRecords);

        var found = await directory.ContainsAsync(ns, DirectoryKey.ForChain(chain), Token);
        Assert.Equal(new[] { true, false, false, false, false, true }, found);
        Assert.Equal(4, directory.Counters.MalformedRecords);

        // Publishing onto a value that is not ours is refused and counted, never thrown, and leaves the value alone.
        var publish = await directory.PublishAsync(ns, [.. TestChains.Publications(chain, node, 1, 1), .. TestChains.Publications(chain, node, 4, 1)], Token);
        Assert.Equal(new PublishResult(0, 2), publish);
        Assert.Equal("garbage", (string?)await Raw.StringGetAsync(KeyAt(1)));
        Assert.Equal(0, await directory.UnpublishAsync(ns, node.Id, DirectoryKey.ForChain(chain)[1..5], Token));
    }

    [Fact]
    public async Task An_entry_with_a_valid_header_but_an_unknown_tier_is_absent()
    {
        var ns = TestChains.NewNamespace();
        var node = TestChains.NewNode();
        await directory.RegisterNodeAsync(node, TimeSpan.FromMinutes(5), Token);
        var chain = TestChains.NewChain(2);
        await directory.PublishAsync(ns, TestChains.Publications(chain, node, 0, 2), Token);
        var key = new RedisKeys(options.KeyPrefix).Block(ns, DirectoryKey.InChain(chain, 1));
        var record = (byte[])(await Raw.StringGetAsync(key))!;
        record[10 + 16] = 77; // the first entry's tier
        await Raw.StringSetAsync(key, record);

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
