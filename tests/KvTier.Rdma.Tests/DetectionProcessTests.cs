using System.Diagnostics;

namespace KvTier.Rdma.Tests;

/// <summary>Detection in a fresh process (the resolver and its result are per process): the RDMA check program
/// started with another environment.</summary>
public sealed class DetectionProcessTests
{
    [Fact]
    public async Task A_process_without_the_shim_reports_shim_missing_and_exits_cleanly()
    {
        var (exitCode, output) = await RunCheckAsync("/nonexistent/libkvtier_rdma.so");

        Assert.Equal(2, exitCode);
        Assert.Contains("detect: ShimMissing: shim missing", output, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/libkvtier_rdma.so", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_process_with_the_production_shim_on_this_machine_reports_no_device()
    {
        var production = Path.Combine(KvTier.Testing.RepositoryPaths.Root, "native", "build", "libkvtier_rdma.so");
        Assert.SkipUnless(File.Exists(production), "native/build/libkvtier_rdma.so not built: run ./build.sh");
        Assert.SkipWhen(Directory.Exists("/sys/class/infiniband") &&
                        Directory.EnumerateFileSystemEntries("/sys/class/infiniband").Any(), "this machine has RDMA devices");

        var (exitCode, output) = await RunCheckAsync(production);

        Assert.Equal(2, exitCode);
        Assert.Matches("detect: (NoDevice|LibibverbsMissing): ", output);
    }

    private static async Task<(int ExitCode, string Output)> RunCheckAsync(string shimPath)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var program = Path.Combine(KvTier.Testing.RepositoryPaths.Root, "perf", "KvTier.RdmaCheck", "bin", configuration,
            "net10.0", "kvtier-rdma-check.dll");
        Assert.SkipUnless(File.Exists(program), $"{program} not built");
        var start = new ProcessStartInfo("dotnet", [program])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment[RdmaLibrary.PathVariable] = shimPath;
        using var process = Process.Start(start)!;
        var cancellation = TestContext.Current.CancellationToken;
        var output = process.StandardOutput.ReadToEndAsync(cancellation);
        var errors = process.StandardError.ReadToEndAsync(cancellation);
        await process.WaitForExitAsync(cancellation);
        return (process.ExitCode, await output + await errors);
    }
}
