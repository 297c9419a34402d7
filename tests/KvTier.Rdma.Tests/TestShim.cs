using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace KvTier.Rdma.Tests;

/// <summary>Loads libkvtier_rdma_testing.so (the shim plus the fake device and kvt_testing_* exports) for both
/// the binding under test and these tests' own imports, and switches the fake device on and off.</summary>
internal static partial class TestShim
{
    private const string FileName = "libkvtier_rdma_testing.so";

    /// <summary>The testing shim's path, or null when native/build has not been built.</summary>
    public static string? Path { get; } = Find();

#pragma warning disable CA2255 // Must run before the binding resolves its library.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void PointTheBindingAtTheTestingShim()
    {
        if (Path is not null)
        {
            Environment.SetEnvironmentVariable(RdmaLibrary.PathVariable, Path);
        }

        NativeLibrary.SetDllImportResolver(typeof(TestShim).Assembly, Resolve);
    }

    /// <summary>Skips the calling test where the testing shim is not built.</summary>
    public static void Require() =>
        Assert.SkipWhen(Path is null, $"{FileName} not built: run ./build.sh (it builds native/ with CMake)");

    /// <summary>Routes the binding to the fake device until disposed.</summary>
    public static IDisposable UseFakeDevice()
    {
        Require();
        Assert.Equal(0, UseFake(1));
        return new Restore();
    }

    [LibraryImport("kvtier_rdma_testing", EntryPoint = "kvt_testing_use_fake_device")]
    private static partial int UseFake(int enable);

    [LibraryImport("kvtier_rdma_testing", EntryPoint = "kvt_testing_fake_doorbells")]
    internal static partial ulong Doorbells();

    [LibraryImport("kvtier_rdma_testing", EntryPoint = "kvt_testing_fake_work_requests")]
    internal static partial ulong WorkRequests();

    [LibraryImport("kvtier_rdma_testing", EntryPoint = "kvt_testing_fake_refuse_next_post_at")]
    internal static partial void RefuseNextPostAt(int index);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == "kvtier_rdma_testing" && Path is not null ? NativeLibrary.Load(Path) : 0;

    private static string? Find()
    {
        var beside = System.IO.Path.Combine(AppContext.BaseDirectory, FileName);
        if (File.Exists(beside))
        {
            return beside;
        }

        var built = System.IO.Path.Combine(KvTier.Testing.RepositoryPaths.Root, "native", "build", FileName);
        return File.Exists(built) ? built : null;
    }

    private sealed class Restore : IDisposable
    {
        public void Dispose() => Assert.Equal(0, UseFake(0));
    }
}

/// <summary>The shim has process-wide state (the installed device), so its tests never run in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeShimCollection
{
    public const string Name = "native shim";
}
