using KvTier.PrefillSavings.Economics;
using KvTier.Workloads;

namespace KvTier.PrefillSavings.Tests;

/// <summary>Bad input to the job (a malformed trace, a bad profile, bad options) is a clear error naming the value.</summary>
public sealed class WorkloadLoadingTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kvtier-savings-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void A_malformed_line_in_the_trace_fails_the_job_with_its_line_number()
    {
        var path = Path.Combine(directory, "bad.jsonl");
        File.WriteAllLines(path,
        [
            """{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]}""",
            """{"timestamp": 5, "input_length": 600, "output_length": 5, "hash_ids": [1]}""",
        ]);

        var error = Assert.Throws<TraceFormatException>(() => SavingsJob.LoadWorkload(new SavingsConfig { TracePath = path }));

        Assert.Equal(2, error.LineNumber);
        Assert.Contains("bad.jsonl:2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trace_emptied_by_the_scale_down_is_an_error_not_an_empty_report()
    {
        var path = Path.Combine(directory, "one.jsonl");
        File.WriteAllText(path, """{"timestamp": 0, "input_length": 10, "output_length": 5, "hash_ids": [1]}""" + "\n");

        var error = Assert.Throws<ArgumentException>(() => SavingsJob.LoadWorkload(new SavingsConfig
        {
            TracePath = path,
            ScaleDown = new TraceScaleDown { SampleFraction = 0.000001, Seed = 3 },
        }));

        Assert.Contains("no requests", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_shipped_profiles_read_and_an_unknown_pair_names_the_known_ones()
    {
        var profiles = PrefillProfiles.Read(PrefillProfiles.ShippedPath);

        Assert.Contains(profiles, p => p is { Model: "llama-3-8b", Gpu: "H100-SXM" });
        var error = Assert.Throws<ArgumentException>(() => PrefillProfiles.Find(profiles, "llama-3-8b", "TPU"));
        Assert.Contains("'TPU'", error.Message, StringComparison.Ordinal);
        Assert.Contains("llama-3-8b/H100-SXM", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_profile_with_zero_throughput_is_refused_with_its_name()
    {
        var path = Path.Combine(directory, "profiles.json");
        File.WriteAllText(path, """{ "profiles": [ { "model": "m", "gpu": "g", "gpus": 1, "prefillTokensPerSecond": 0, "overheadMs": 1, "usdPerGpuHour": 1, "source": "x" } ] }""");

        var error = Assert.Throws<ArgumentException>(() => PrefillProfiles.Read(path));

        Assert.Contains("m on g", error.Message, StringComparison.Ordinal);
        Assert.Contains("prefillTokensPerSecond 0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mode", "sometimes")]
    [InlineData("scale", "3")]
    [InlineData("policy", "random")]
    public void A_bad_setting_is_refused_and_named(string setting, string value)
    {
        var config = setting switch
        {
            "mode" => new SavingsConfig { Mode = value },
            "scale" => new SavingsConfig { ScaleFactor = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
            _ => new SavingsConfig { Policies = [value] },
        };

        var error = Assert.ThrowsAny<ArgumentException>(config.Validate);

        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }
}
