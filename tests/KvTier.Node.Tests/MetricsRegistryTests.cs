using KvTier.Node.Metrics;

namespace KvTier.Node.Tests;

public class MetricsRegistryTests
{
    [Fact]
    public void Counters_gauges_and_labelled_counters_render_in_the_Prometheus_text_format()
    {
        var registry = new MetricsRegistry();
        var requests = registry.Counter("kvtier_requests_total", "Requests served.");
        var hits = registry.LabeledCounter("kvtier_hits_total", "Hits by tier.", "tier");
        var arenaUsed = 0.25;
        registry.Gauge("kvtier_arena_used_ratio", "Share of the arena in use.", () => arenaUsed);

        requests.Add(3);
        requests.Increment();
        hits.Add("host", 5);
        hits.Add("nvme");
        arenaUsed = 0.5;

        Assert.Equal(
            "# HELP kvtier_requests_total Requests served.\n# TYPE kvtier_requests_total counter\nkvtier_requests_total 4\n" +
            "# HELP kvtier_hits_total Hits by tier.\n# TYPE kvtier_hits_total counter\n" +
            "kvtier_hits_total{tier=\"host\"} 5\nkvtier_hits_total{tier=\"nvme\"} 1\n" +
            "# HELP kvtier_arena_used_ratio Share of the arena in use.\n# TYPE kvtier_arena_used_ratio gauge\nkvtier_arena_used_ratio 0.5\n",
            registry.Render());
    }

    [Fact]
    public void Histograms_render_cumulative_buckets_with_sum_and_count()
    {
        var registry = new MetricsRegistry();
        var latency = registry.Histogram("kvtier_read_seconds", "Read latency.", 0.001, 0.01, 0.1);
        foreach (var value in new[] { 0.0005, 0.002, 0.002, 0.5 })
        {
            latency.Observe(value);
        }

        var text = registry.Render();
        Assert.Contains("kvtier_read_seconds_bucket{le=\"0.001\"} 1\n", text);
        Assert.Contains("kvtier_read_seconds_bucket{le=\"0.01\"} 3\n", text);
        Assert.Contains("kvtier_read_seconds_bucket{le=\"0.1\"} 3\n", text);
        Assert.Contains("kvtier_read_seconds_bucket{le=\"+Inf\"} 4\n", text);
        Assert.Contains("kvtier_read_seconds_sum 0.5045\n", text);
        Assert.Contains("kvtier_read_seconds_count 4\n", text);
    }

    [Fact]
    public void Concurrent_updates_are_not_lost()
    {
        var registry = new MetricsRegistry();
        var counter = registry.Counter("c_total", "c");
        var histogram = registry.Histogram("h", "h", 1, 2);
        Parallel.For(0, 100_000, _ =>
        {
            counter.Increment();
            histogram.Observe(1.5);
        });
        Assert.Equal(100_000, counter.Value);
        Assert.Equal(100_000, histogram.Count);
        Assert.Contains("h_sum 150000\n", registry.Render());
    }

    [Theory]
    [InlineData("")]
    [InlineData("9lives")]
    [InlineData("has-dash")]
    public void Invalid_names_and_duplicates_are_rejected(string name)
    {
        var registry = new MetricsRegistry();
        Assert.Throws<ArgumentException>(() => registry.Counter(name, "x"));
        registry.Counter("ok_total", "x");
        Assert.Throws<ArgumentException>(() => registry.Counter("ok_total", "x"));
    }

    [Fact]
    public void Label_values_and_help_text_are_escaped()
    {
        var registry = new MetricsRegistry();
        registry.LabeledCounter("n_total", "line one\nline two", "ns").Add("a\"b\\c");
        var text = registry.Render();
        Assert.Contains("# HELP n_total line one\\nline two\n", text);
        Assert.Contains("n_total{ns=\"a\\\"b\\\\c\"} 1\n", text);
    }
}
