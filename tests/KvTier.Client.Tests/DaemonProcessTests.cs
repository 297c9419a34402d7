using Grpc.Net.Client;
using KvTier.BlockDirectory.Redis;
using KvTier.Core;
using KvTier.Node;
using KvTier.Node.Tests;
using KvTier.Testing;
using KvTier.Transport.ControlPlane;

namespace KvTier.Client.Tests;

/// <summary>The product as an operator runs it: real kvtier-node processes sharing a real Redis directory with
/// the clients of an inference engine.</summary>
public sealed class DaemonProcessTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<NodeProcess> StartNodeAsync(string nodeId, string redis, string prefix, KvNamespace ns)
    {
        var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            "--node-id", nodeId, "--redis", redis, "--Directory:KeyPrefix", prefix,
            "--Directory:HeartbeatInterval", "00:00:00.200"), Token);
        using var channel = GrpcChannel.ForAddress($"http://{node.ControlPlane}");
        var registered = await new NodeControl.NodeControlClient(channel).RegisterNamespaceAsync(
            new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(ns) }, cancellationToken: Token);
        Assert.Equal(ns.Id.Value, registered.NamespaceId);
        return node;
    }

    [Fact]
    public async Task Blocks_stored_on_node_processes_load_back_exactly_and_a_killed_node_only_shortens_the_prefix()
    {
        var redis = RedisEndpoints.RequireSingle();
        var prefix = $"e2e{Guid.NewGuid():n}:";
        var ns = TestCluster.Namespace();
        var directoryOptions = new RedisDirectoryOptions { Endpoints = redis, KeyPrefix = prefix, MembershipCacheTime = TimeSpan.Zero };
        await using var nodeA = await StartNodeAsync("e2e-a", redis, prefix, ns);
        await using var nodeB = await StartNodeAsync("e2e-b", redis, prefix, ns);

        await using var writerDirectory = await RedisBlockDirectory.ConnectAsync(directoryOptions);
        await using var writer = new KvTierClient(writerDirectory);
        var chain = TestCluster.Chain(24, seed: 41);
        var source = TestCluster.RandomBlocks(ns, 24, seed: 42);
        var stored = await writer.StoreAsync(ns, chain, 0, source, Token);
        Assert.Equal(new StoreResult(24, 0, 0), stored);

        await using var readerDirectory = await RedisBlockDirectory.ConnectAsync(directoryOptions);
        await using var reader = new KvTierClient(readerDirectory);
        var prefixLookup = await reader.LookupAsync(ns, chain, Token);
        Assert.Equal(24, prefixLookup.HitCount);
        var destination = new byte[source.Length];
        Assert.Equal(24, (await reader.LoadAsync(ns, prefixLookup, destination, null, Token)).LoadedBlocks);
        Assert.Equal(source, destination);

        // Blocks are spread over both nodes; killing one leaves a shorter (possibly empty) prefix of verified bytes.
        nodeB.Signal("KILL");
        await nodeB.WaitForExitAsync(Token);
        var afterLoss = new byte[source.Length];
        var stale = await reader.LookupAsync(ns, chain, Token);
        var loaded = await reader.LoadAsync(ns, stale, afterLoss, null, Token);
        Assert.InRange(loaded.LoadedBlocks, 0, 23);
        AssertLoadedPrefixMatches(ns, source, sourceBlocks: 24, afterLoss, destinationBlocks: stale.HitCount, loaded.LoadedBlocks);
    }

    /// <summary>Buffers are layer-major: layer l of block b sits at (l * blocks + b) * chunk, where blocks is the
    /// block count of that buffer (the store's 24, the load's hit count).</summary>
    private static void AssertLoadedPrefixMatches(KvNamespace ns, byte[] source, int sourceBlocks, byte[] destination,
        int destinationBlocks, int loadedBlocks)
    {
        var chunk = ns.Layout.BytesPerLayerChunk;
        for (var layer = 0; layer < ns.Layout.Layers; layer++)
        {
            var expected = source.AsSpan(layer * sourceBlocks * chunk, loadedBlocks * chunk);
            var actual = destination.AsSpan(layer * destinationBlocks * chunk, loadedBlocks * chunk);
            Assert.True(expected.SequenceEqual(actual), $"layer {layer} differs");
        }
    }
}
