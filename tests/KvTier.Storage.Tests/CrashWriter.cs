using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace KvTier.Storage.Tests;

/// <summary>
/// When this test executable is started with KVTIER_STORAGE_CRASH_WRITER=directory, it does not run tests: it
/// writes blocks to an engine whose every eviction is a demotion, forever, until the parent test kills it mid-write.
/// </summary>
internal static class CrashWriter
{
    public const string Variable = "KVTIER_STORAGE_CRASH_WRITER";

#pragma warning disable CA2255 // The test executable doubles as the child process; this is its entry point.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void RunIfAsked()
    {
        var directory = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }

        var options = NvmeTierTests.AllAdmitted(directory);
        options.NvmeCapacityBytes = 64 << 20;
        using var store = StorageEngine.Open(options);
        for (ulong number = 0; ; number++)
        {
            var id = TestBlocks.Id(number);
            TestBlocks.Put(store, id, TestBlocks.Chunks(id, 2, 128 << 10));
            if (number == 40)
            {
                Console.Out.WriteLine("writing");
                Console.Out.Flush();
            }
        }
    }

    /// <summary>Starts the writer on <paramref name="directory"/>, waits until it is demoting, then kills it.</summary>
    public static void RunAndKill(string directory, TimeSpan afterReady)
    {
        var start = new ProcessStartInfo("dotnet", [typeof(CrashWriter).Assembly.Location])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.Environment[Variable] = directory;
        using var child = Process.Start(start)!;
        var line = child.StandardOutput.ReadLine();
        Assert.Equal("writing", line);
        Thread.Sleep(afterReady);
        child.Kill(entireProcessTree: true);
        child.WaitForExit();
    }
}
