using KvTier.PrefillSavings.Simulation;
using KvTier.Testing;
using KvTier.Workloads;

namespace KvTier.PrefillSavings.Tests;

/// <summary>The simulator's unbounded tier reproduces the infinite-cache bounds the traces' README states.</summary>
public sealed class TraceBoundTests
{
    [Theory]
    [InlineData("conversation_trace.jsonl", 36.64, 37.36)]
    [InlineData("synthetic_trace.jsonl", 63.96, 65.12)]
    public void The_infinite_cache_bound_of_a_public_trace_matches_its_readme(string file, double blockPercent, double tokenPercent)
    {
        var path = RepositoryPaths.RequireTrace(file);
        var workload = PreparedWorkload.From(file, MooncakeTraceReader.ReadFile(path));

        var outcome = TierSimulator.Run(workload, CacheConfig.Infinite, buckets: 1);

        Assert.Equal(blockPercent, Math.Round(100.0 * outcome.PrefixHitBlocks / outcome.Accesses, 2));
        Assert.Equal(tokenPercent, Math.Round(100.0 * outcome.PrefixHitTokens / workload.TotalTokens, 2));
    }

    [Fact]
    public void A_scaled_down_conversation_trace_keeps_its_first_requests_and_compresses_time()
    {
        var path = RepositoryPaths.RequireTrace("conversation_trace.jsonl");
        var full = MooncakeTraceReader.ReadFile(path).Take(1000).ToList();

        var config = new SavingsConfig { TracePath = path, ScaleDown = new TraceScaleDown { FirstRequests = 1000, TimeCompression = 10 } };
        var scaled = SavingsJob.LoadWorkload(config);

        Assert.Equal(1000, scaled.Requests.Count);
        Assert.Equal(full[^1].TimestampMs / 10, scaled.Requests[^1].TimestampMs);
        Assert.Contains("first 1,000", scaled.Name, StringComparison.Ordinal);
    }
}
