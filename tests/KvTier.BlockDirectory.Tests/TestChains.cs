using KvTier.Core;

namespace KvTier.BlockDirectory.Tests;

/// <summary>Random chains, namespaces and nodes, unique to each test so tests can share a Redis.</summary>
internal static class TestChains
{
    public static NamespaceId NewNamespace() => new((ulong)Random.Shared.NextInt64());

    public static BlockKey[] NewChain(int length)
    {
        var chain = new BlockKey[length];
        for (var index = 0; index < length; index++)
        {
            chain[index] = new BlockKey((ulong)Random.Shared.NextInt64(), (ulong)Random.Shared.NextInt64());
        }

        return chain;
    }

    public static NodeInfo NewNode(ulong epoch = 1) => new(new NodeId((ulong)Random.Shared.NextInt64()), epoch,
        "10.0.0.1:7400", "10.0.0.1:7401", SupportsRdma: true, CapacityBytes: 1L << 40, FreeBytes: 1L << 39);

    public static BlockLocation At(NodeInfo node, int position, StorageTier tier = StorageTier.Host) =>
        new(node.Id, tier, 4096 + position, node.Epoch);

    public static BlockPublication[] Publications(BlockKey[] chain, NodeInfo node, int start, int count,
        TimeSpan? ttl = null, StorageTier tier = StorageTier.Host) =>
        [.. Enumerable.Range(start, count).Select(index => new BlockPublication(DirectoryKey.InChain(chain, index), At(node, index, tier), ttl))];

    /// <summary>Polls until <paramref name="condition"/> holds; fails after 15 s (waiting, not timing: nothing is
    /// asserted about how long it took).</summary>
    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}.");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }
}
