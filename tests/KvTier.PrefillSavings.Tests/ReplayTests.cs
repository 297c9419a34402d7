using KvTier.PrefillSavings.Reporting;

namespace KvTier.PrefillSavings.Tests;

/// <summary>Replay end to end: real nodes, the real client, every loaded byte compared with what was stored.</summary>
public sealed class ReplayTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kvtier-replay-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(folder => File.Exists(Path.Combine(folder, program)));

    private string Trace()
    {
        // Three requests sharing a two-block prefix, a repeat, and a request whose third block is partial.
        var path = Path.Combine(directory, "small.jsonl");
        File.WriteAllLines(path,
        [
            """{"timestamp": 0, "input_length": 1536, "output_length": 5, "hash_ids": [1, 2, 3]}""",
            """{"timestamp": 100, "input_length": 1300, "output_length": 5, "hash_ids": [1, 2, 4]}""",
            """{"timestamp": 200, "input_length": 1536, "output_length": 5, "hash_ids": [1, 2, 3]}""",
            """{"timestamp": 300, "input_length": 600, "output_length": 5, "hash_ids": [5, 6]}""",
        ]);
        return path;
    }

    private SavingsConfig Config(int nodes) => new()
    {
        Mode = "both",
        TracePath = Trace(),
        ReplayNodes = nodes,
        ScaleFactor = 64,
        Model = "llama-3-8b",
        ArenaMiB = 64,
        Capacities = ["100%"],
        SimulateNodes = [nodes],
        OutputDirectory = Path.Combine(directory, "report"),
    };

    [Fact]
    public async Task A_small_trace_replays_on_the_in_process_node_with_every_loaded_byte_verified()
    {
        var (report, index) = await SavingsJob.RunAsync(Config(1), new ProgressLine(TextWriter.Null, inPlace: false), Token);

        var replay = report.Replay!;
        // Hits by hand: r2 loads blocks 1, 2; r3 loads 1, 2, 3; r1 and r4 miss everything.
        Assert.Equal(3 + 3 + 3 + 2, replay.BlockAccesses);
        Assert.Equal(5, replay.PrefixHitBlocks);
        Assert.Equal(5 * 512, replay.PrefillTokensSaved);
        Assert.Equal(replay.SimulatedBlockHitRatio, replay.BlockHitRatio);
        Assert.Equal(0, replay.MismatchedBlocks);
        // llama-3-8b: 32 layers x 2 x 8 heads x 128 x 2 bytes x (512 / 64) tokens = 1 MiB per block.
        Assert.Equal(1L << 20, replay.ScaledBlockBytes);
        Assert.Equal(5L << 20, replay.VerifiedBytes);
        Assert.Equal(6, replay.StoredBlocks);
        Assert.Equal(0, replay.FailedStoreBlocks);
        Assert.All(replay.TtftWithMsPerRequest.Zip(replay.TtftWithoutMsPerRequest), pair => Assert.True(pair.First > 0 && pair.Second > 0));
        Assert.True(File.Exists(Path.Combine(directory, "report", "ttft-distribution.png")));
        // The page shows the replay's figures too, each equal to the JSON: 8 workload figures, 4 tier rows of 10 (less
        // the infinite row's 2 capacities), 19 replay figures and 6 latency rows of 4.
        Assert.Equal(8 + 38 + 19 + 24, ReportTests.AssertPageMatchesJson(index));
    }

    [Fact]
    public async Task A_small_trace_replays_on_kvtier_node_processes_sharing_a_redis_directory()
    {
        Assert.SkipUnless(OnPath("redis-server"), "redis-server is not on PATH (apt-get install redis-server); the replay starts its own.");

        var (report, _) = await SavingsJob.RunAsync(Config(2), new ProgressLine(TextWriter.Null, inPlace: false), Token);

        var replay = report.Replay!;
        Assert.Contains("2 kvtier-node processes", replay.Cluster, StringComparison.Ordinal);
        Assert.Equal(5, replay.PrefixHitBlocks);
        Assert.Equal(0, replay.MismatchedBlocks);
        Assert.Equal(5L << 20, replay.VerifiedBytes);
    }
}
