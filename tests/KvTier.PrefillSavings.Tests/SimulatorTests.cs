using KvTier.PrefillSavings.Simulation;
using KvTier.Workloads;

namespace KvTier.PrefillSavings.Tests;

/// <summary>The simulator against small traces worked out by hand.</summary>
public sealed class SimulatorTests
{
    private static TraceRequest Request(int line, long timestamp, int input, params long[] ids) => new(line, timestamp, input, 10, ids);

    private static PreparedWorkload Workload(params TraceRequest[] requests) => PreparedWorkload.From("hand", requests);

    [Fact]
    public void An_unbounded_tier_hits_every_repeated_prefix_block_and_stops_at_the_first_miss()
    {
        // r1: A B C (all new). r2: A B D: A, B hit; D new. r3: A X B: A hits, X misses, so B (resident) is no prefix hit.
        var workload = Workload(
            Request(1, 0, 1300, 1, 2, 3),
            Request(2, 10, 1100, 1, 2, 4),
            Request(3, 20, 1200, 1, 5, 2));

        var outcome = TierSimulator.Run(workload, CacheConfig.Infinite, buckets: 1);

        Assert.Equal(9, outcome.Accesses);
        Assert.Equal(3, outcome.PrefixHitBlocks);
        Assert.Equal(3 * 512, outcome.PrefixHitTokens);
        Assert.Equal([0, 1024, 512], outcome.PrefixTokensPerRequest);
        // A B C D X stored once each; the resident B after the miss in r3 is skipped, not stored again.
        Assert.Equal(5, outcome.StoredBlocks);
        Assert.Equal(0, outcome.EvictedBlocks);
    }

    [Fact]
    public void A_hit_on_a_partial_last_block_saves_only_its_tokens()
    {
        var workload = Workload(Request(1, 0, 700, 1, 2), Request(2, 5, 700, 1, 2));

        var outcome = TierSimulator.Run(workload, CacheConfig.Infinite, buckets: 1);

        Assert.Equal(2, outcome.PrefixHitBlocks);
        Assert.Equal(700, outcome.PrefixHitTokens);
    }

    [Fact]
    public void An_lru_tier_of_two_blocks_evicts_the_least_recently_used_block()
    {
        // Capacity 2. r1 stores A B. r2 (C) evicts A (LRU), stores C. r3 asks B: hit, touched. r4 (D) evicts C, not
        // the touched B. r5 asks B: hit. r6 asks A: evicted earlier, a miss that evicts D.
        var workload = Workload(
            Request(1, 0, 1024, 1, 2),
            Request(2, 1, 512, 3),
            Request(3, 2, 512, 2),
            Request(4, 3, 512, 4),
            Request(5, 4, 512, 2),
            Request(6, 5, 512, 1));

        var outcome = TierSimulator.Run(workload, new CacheConfig("lru", 2, 1), buckets: 1, NodeModel.Exact);

        Assert.Equal([0, 0, 512, 0, 512, 0], outcome.PrefixTokensPerRequest);
        Assert.Equal(2, outcome.PrefixHitBlocks);
        Assert.Equal(5, outcome.StoredBlocks);
        Assert.Equal(3, outcome.EvictedBlocks);
    }

    [Fact]
    public void An_s3_fifo_tier_of_two_blocks_keeps_the_block_that_was_hit()
    {
        // Capacity 2, S3-FIFO. r1: A. r2: B. r3: A (hit). r4: C must evict: A was hit in the small queue, so it moves
        // to main and B (never hit) leaves. r5: A hits. r6: B misses.
        var workload = Workload(
            Request(1, 0, 512, 1),
            Request(2, 1, 512, 2),
            Request(3, 2, 512, 1),
            Request(4, 3, 512, 3),
            Request(5, 4, 512, 1),
            Request(6, 5, 512, 2));

        var outcome = TierSimulator.Run(workload, new CacheConfig("s3-fifo", 2, 1), buckets: 1, NodeModel.Exact);

        Assert.Equal([0, 0, 512, 0, 512, 0], outcome.PrefixTokensPerRequest);
        Assert.Equal(2, outcome.EvictedBlocks);
    }

    [Fact]
    public void Hit_ratio_over_time_buckets_requests_by_arrival()
    {
        var workload = Workload(Request(1, 0, 512, 1), Request(2, 50, 512, 1), Request(3, 100, 1024, 1, 2));

        var outcome = TierSimulator.Run(workload, CacheConfig.Infinite, buckets: 2);

        Assert.Equal([2, 2], outcome.AccessesPerBucket);
        Assert.Equal([1, 1], outcome.HitsPerBucket);
    }

    [Fact]
    public void Several_unbounded_nodes_hit_exactly_as_one_does()
    {
        var workload = SavingsJob.LoadWorkload(new SavingsConfig { Synthetic = new() { Requests = 300, Seed = 3 } });

        var one = TierSimulator.Run(workload, CacheConfig.Infinite, buckets: 4);
        var four = TierSimulator.Run(workload, CacheConfig.Infinite with { Nodes = 4 }, buckets: 4);

        Assert.Equal(one.PrefixHitBlocks, four.PrefixHitBlocks);
        Assert.True(one.PrefixHitBlocks > 0);
    }

    [Fact]
    public void A_store_past_the_high_watermark_first_evicts_down_to_the_low_one()
    {
        // Capacity 4, watermarks 50 % / 25 %: storing a third block would pass 2, so A and B leave (down to 0 before
        // the store, one block after it). r4: C hits. r5: B was evicted, a miss.
        var workload = Workload(
            Request(1, 0, 512, 1),
            Request(2, 1, 512, 2),
            Request(3, 2, 512, 3),
            Request(4, 3, 512, 3),
            Request(5, 4, 512, 2));

        var outcome = TierSimulator.Run(workload, new CacheConfig("lru", 4, 1), buckets: 1, new NodeModel(0.5, 0.25, 0));

        Assert.Equal([0, 0, 0, 512, 0], outcome.PrefixTokensPerRequest);
        Assert.Equal(2, outcome.EvictedBlocks);
    }

    [Fact]
    public void The_node_model_defaults_are_the_storage_engine_and_node_defaults()
    {
        Assert.Equal((0.95, 0.90, 2000.0), (NodeModel.Default.HighWatermark, NodeModel.Default.LowWatermark, NodeModel.Default.HeartbeatMs));
    }

    [Theory]
    [InlineData("lru", 1)]
    [InlineData("s3-fifo", 1)]
    [InlineData("s3-fifo", 4)]
    public void No_request_of_a_bounded_tier_gets_a_longer_prefix_than_the_unbounded_one(string policy, int nodes)
    {
        // A bounded tier holds a subset of every block stored so far, which is what the unbounded one holds.
        var workload = SavingsJob.LoadWorkload(new SavingsConfig { Synthetic = new() { Requests = 500, Seed = 5 } });
        var bound = TierSimulator.Run(workload, CacheConfig.Infinite, 1);

        foreach (var capacity in new[] { 20, 320 })
        {
            var outcome = TierSimulator.Run(workload, new CacheConfig(policy, capacity, nodes), 1);
            Assert.All(Enumerable.Range(0, workload.Requests.Count),
                request => Assert.True(outcome.PrefixTokensPerRequest[request] <= bound.PrefixTokensPerRequest[request], $"request {request}"));
            Assert.True(outcome.EvictedBlocks > 0);
        }
    }

    [Fact]
    public void Capacities_parse_as_shares_sizes_or_block_counts_and_reject_nonsense()
    {
        Assert.Equal(50, CapacitySpec.ToBlocks("10%", 500, 64L << 20));
        Assert.Equal(16, CapacitySpec.ToBlocks("1GiB", 500, 64L << 20));
        Assert.Equal(123, CapacitySpec.ToBlocks("123", 500, 64L << 20));
        var error = Assert.Throws<ArgumentException>(() => CapacitySpec.ToBlocks("lots", 500, 64L << 20));
        Assert.Contains("'lots'", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => CapacitySpec.ToBlocks("1MiB", 500, 64L << 20));
    }
}
