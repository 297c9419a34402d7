using KvTier.Workloads.Synthetic;

namespace KvTier.Workloads.Tests;

public sealed class SyntheticWorkloadTests
{
    [Fact]
    public void Prompts_that_share_segments_share_block_ids_up_to_where_they_differ()
    {
        var chains = new ChainedBlockIds();
        var system = new PromptSegment(1, 1024);

        var first = chains.Of([system, new PromptSegment(2, 300)]);
        var second = chains.Of([system, new PromptSegment(3, 300)]);
        var same = chains.Of([system, new PromptSegment(2, 300)]);

        Assert.Equal(3, first.Length);
        Assert.Equal(first[..2], second[..2]);
        Assert.NotEqual(first[2], second[2]);
        Assert.Equal(first, same);
    }

    [Fact]
    public void A_partial_last_block_differs_from_the_full_block_that_extends_it()
    {
        var chains = new ChainedBlockIds();

        var shorter = chains.Of([new PromptSegment(1, 700)]);
        var longer = chains.Of([new PromptSegment(1, 1024)]);

        Assert.Equal(shorter[0], longer[0]);
        Assert.NotEqual(shorter[1], longer[1]);
    }

    [Fact]
    public void The_same_segments_split_differently_are_still_the_same_text_only_if_ids_match()
    {
        var chains = new ChainedBlockIds();

        // Block 0 covers segment 1 (512 tokens) in both; block 1 differs: segment 2 vs segment 3.
        var a = chains.Of([new PromptSegment(1, 512), new PromptSegment(2, 10)]);
        var b = chains.Of([new PromptSegment(1, 512), new PromptSegment(3, 10)]);

        Assert.Equal(a[0], b[0]);
        Assert.NotEqual(a[1], b[1]);
    }

    [Fact]
    public void A_workload_is_valid_mooncake_data_in_arrival_order_and_repeats_for_a_seed()
    {
        var options = new SyntheticWorkloadOptions { Requests = 500, Seed = 11 };

        var requests = SyntheticWorkload.Generate(options);
        var again = SyntheticWorkload.Generate(options);

        Assert.Equal(500, requests.Count);
        Assert.All(requests, r => Assert.Equal((r.InputLength + 511) / 512, r.HashIds.Length));
        Assert.Equal(requests.Select(r => r.TimestampMs).Order(), requests.Select(r => r.TimestampMs));
        Assert.Equal(requests.Select(r => r.HashIds.Sum()), again.Select(r => r.HashIds.Sum()));
    }

    [Fact]
    public void Fewer_shared_prefixes_mean_fewer_unique_blocks()
    {
        static int Unique(int shared) => SyntheticWorkload.Generate(new SyntheticWorkloadOptions
        {
            Requests = 600,
            Seed = 4,
            SystemPromptWeight = 1,
            ChatWeight = 0,
            DocumentQaWeight = 1,
            AgentWeight = 0,
            SharedPrefixes = shared,
        }).SelectMany(r => r.HashIds).Distinct().Count();

        Assert.True(Unique(2) < Unique(64), $"{Unique(2)} unique blocks with 2 shared prefixes, {Unique(64)} with 64");
    }

    [Fact]
    public void Only_the_chosen_kinds_are_generated()
    {
        // Agent loops only: every request starts with one of the tool sets (2-6k tokens), so the first block repeats.
        var requests = SyntheticWorkload.Generate(new SyntheticWorkloadOptions
        {
            Requests = 200,
            SystemPromptWeight = 0,
            ChatWeight = 0,
            DocumentQaWeight = 0,
            AgentWeight = 1,
            SharedPrefixes = 1,
        });

        Assert.Single(requests.Select(r => r.HashIds[0]).Distinct());
        Assert.All(requests, r => Assert.True(r.InputLength >= 2100));
    }

    [Theory]
    [InlineData(0, 1.0, 1)]
    [InlineData(10, -1.0, 1)]
    [InlineData(10, 1.0, 0)]
    public void Bad_options_are_refused(int requests, double chatWeight, int sharedPrefixes)
    {
        var options = new SyntheticWorkloadOptions { Requests = requests, ChatWeight = chatWeight, SharedPrefixes = sharedPrefixes };

        Assert.ThrowsAny<ArgumentException>(options.Validate);
    }

    [Fact]
    public void Scale_down_keeps_the_first_requests_samples_with_a_seed_and_compresses_time()
    {
        var requests = Enumerable.Range(1, 1000).Select(i => new TraceRequest(i, i * 100L, 512, 1, [i])).ToList();

        var first = new TraceScaleDown { FirstRequests = 10, TimeCompression = 4 }.Apply(requests).ToList();
        var sampled = new TraceScaleDown { SampleFraction = 0.25, Seed = 2 }.Apply(requests).ToList();
        var sampledAgain = new TraceScaleDown { SampleFraction = 0.25, Seed = 2 }.Apply(requests).ToList();

        Assert.Equal(Enumerable.Range(1, 10), first.Select(r => r.LineNumber));
        Assert.Equal(1000 / 4, first[^1].TimestampMs);
        Assert.InRange(sampled.Count, 180, 320);
        Assert.Equal(sampled.Select(r => r.LineNumber), sampledAgain.Select(r => r.LineNumber));
    }

    [Theory]
    [InlineData(-1, 1.0, 1.0, "FirstRequests")]
    [InlineData(0, 0.0, 1.0, "SampleFraction")]
    [InlineData(0, 1.5, 1.0, "SampleFraction")]
    [InlineData(0, 1.0, 0.0, "TimeCompression")]
    public void Bad_scale_down_settings_are_refused_with_the_setting_and_value(int first, double sample, double compression, string setting)
    {
        var scaleDown = new TraceScaleDown { FirstRequests = first, SampleFraction = sample, TimeCompression = compression };

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => scaleDown.Apply([]));

        Assert.Equal(setting, error.ParamName);
        Assert.NotNull(error.ActualValue);
    }
}
