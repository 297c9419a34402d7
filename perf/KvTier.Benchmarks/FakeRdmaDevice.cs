using System.Runtime.InteropServices;
using KvTier.Rdma;

namespace KvTier.Benchmarks;

/// <summary>Points the RDMA binding at the testing shim with its in-memory fake device switched on, so the verbs
/// benchmarks run without a NIC (the fake copies with memcpy, which makes the binding's own cost visible).</summary>
internal static unsafe class FakeRdmaDevice
{
    /// <exception cref="FileNotFoundException">The testing shim was not built (run ./build.sh first).</exception>
    public static void Enable()
    {
        var shim = FindTestingShim();
        Environment.SetEnvironmentVariable(RdmaLibrary.PathVariable, shim);
        var library = NativeLibrary.Load(shim);
        var useFake = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(library, "kvt_testing_use_fake_device");
        if (useFake(1) != 0)
        {
            throw new InvalidOperationException("kvt_testing_use_fake_device failed");
        }
    }

    private static string FindTestingShim()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "native", "build", "libkvtier_rdma_testing.so");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("native/build/libkvtier_rdma_testing.so not found: run ./build.sh first");
    }
}
