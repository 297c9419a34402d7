using System.Diagnostics;
using System.Text.Json;
using KvTier.Testing;

namespace KvTier.Cuda.Tests;

/// <summary>perf/KvTier.GpuCheck run as a process against the fake driver: its copies, verification, the client's
/// GPU load through in-process nodes, and its JSON.</summary>
public sealed class GpuCheckProgramTests
{
    [Fact]
    public async Task The_gpu_check_program_verifies_copies_and_writes_its_json()
    {
        using var run = await RunAsync(["--size-mib", "8", "--iterations", "2", "--load-blocks", "6", "--load-model", "llama-3-8b"],
            new Dictionary<string, string>());
        var root = run.Json.RootElement;

        Assert.True(root.GetProperty("gpu_available").GetBoolean());
        Assert.Equal("KvTier Fake GPU", root.GetProperty("device").GetProperty("name").GetString());
        Assert.True(root.GetProperty("verified_round_trip").GetBoolean());
        Assert.True(root.GetProperty("verified_offset_copy").GetBoolean());
        Assert.True(root.GetProperty("host_to_device_gbps").GetProperty("pinned_arena_async").GetDouble() > 0);
        Assert.True(root.GetProperty("dma_buf_export").GetBoolean());
        var load = root.GetProperty("gpu_load");
        Assert.Equal(6, load.GetProperty("loaded_blocks").GetInt32());
        Assert.Equal(2L << 20, load.GetProperty("block_bytes").GetInt64());
        Assert.True(load.GetProperty("verified_device_bytes").GetBoolean());
        Assert.True(load.GetProperty("gpu_load_gbps").GetDouble() > 0);
        Assert.True(load.GetProperty("host_load_gbps").GetDouble() > 0);
        Assert.Equal(Enumerable.Range(0, 32), load.GetProperty("per_layer_ms").EnumerateArray().Select(l => l.GetProperty("layer").GetInt32()));
        Assert.Equal(0, root.GetProperty("failures").GetArrayLength());
    }

    [Fact]
    public async Task The_gpudirect_probe_reads_over_rdma_into_gpu_memory_with_both_fakes()
    {
        var testingShim = Path.Combine(RepositoryPaths.Root, "native", "build", "libkvtier_rdma_testing.so");
        Assert.SkipUnless(File.Exists(testingShim), "libkvtier_rdma_testing.so not built: run ./build.sh");
        using var run = await RunAsync(["--gpudirect-only"],
            new Dictionary<string, string> { ["KVTIER_RDMA_SHIM"] = testingShim, ["KVTIER_RDMA_FAKE"] = "1" });
        var (root, text) = (run.Json.RootElement, run.Output);

        Assert.True(root.GetProperty("rdma_available").GetBoolean(), text);
        Assert.True(root.GetProperty("gpudirect_registered").GetBoolean(), text);
        Assert.Contains("through dma-buf", root.GetProperty("gpudirect_detail").GetString(), StringComparison.Ordinal);
        Assert.True(root.GetProperty("verified_device_bytes").GetBoolean(), text);
        Assert.True(root.GetProperty("loopback_read_gbps").GetDouble() > 0);
    }

    /// <summary>Runs the check program against the fake driver (plus <paramref name="environment"/>), asserts it exited
    /// 0, and returns its JSON and its output (for assertion messages).</summary>
    private static async Task<CheckRun> RunAsync(string[] arguments, Dictionary<string, string> environment)
    {
        var output = Path.Combine(Path.GetTempPath(), $"kvtier-gpu-check-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo("dotnet", [Program(), .. arguments, "--output", output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment[CudaCapability.LibraryVariable] = FakeDriverTests.FakeDriver;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        try
        {
            using var process = Process.Start(start)!;
            var cancellation = TestContext.Current.CancellationToken;
            var stdout = process.StandardOutput.ReadToEndAsync(cancellation);
            var stderr = process.StandardError.ReadToEndAsync(cancellation);
            await process.WaitForExitAsync(cancellation);
            var text = await stdout + await stderr;
            Assert.True(process.ExitCode == 0, text);
            return new CheckRun(JsonDocument.Parse(await File.ReadAllTextAsync(output, cancellation)), text);
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static string Program()
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var program = Path.Combine(RepositoryPaths.Root, "perf", "KvTier.GpuCheck", "bin", configuration, "net10.0",
            "kvtier-gpu-check.dll");
        Assert.SkipUnless(File.Exists(program), $"{program} not built");
        return program;
    }

    private sealed record CheckRun(JsonDocument Json, string Output) : IDisposable
    {
        public void Dispose() => Json.Dispose();
    }
}
