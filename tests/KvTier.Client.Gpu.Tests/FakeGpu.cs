using System.Runtime.InteropServices;
using KvTier.Cuda;
using KvTier.Testing;

namespace KvTier.Client.Gpu.Tests;

/// <summary>native/tests/cuda_fake_driver.c: a CUDA driver whose "device memory" is host memory, so a GPU load's
/// bytes can be read back and compared on a machine without a GPU. It says nothing about speed.</summary>
internal static partial class FakeGpu
{
    public static string DriverPath => NativeLibraryPath("libcuda_fake_driver.so");

    public static string NoDevicePath => NativeLibraryPath("libcuda_stub_no_device.so");

    public static CudaContext Open() => CudaContext.Open(0, DriverPath);

    /// <summary>Async host-to-device copies the fake driver saw from memory that was not registered (pinned).</summary>
    public static int UnpinnedAsyncCopies() => Counter("kvt_fake_cuda_unpinned_async_copies");

    /// <summary>Successful cuFlushGPUDirectRDMAWrites calls the fake driver saw.</summary>
    public static int GpuDirectFlushes() => Counter("kvt_fake_cuda_gpudirect_flushes");

    private static int Counter(string export)
    {
        var library = NativeLibrary.Load(DriverPath);
        try
        {
            unsafe
            {
                var count = (delegate* unmanaged<int>)NativeLibrary.GetExport(library, export);
                return count();
            }
        }
        finally
        {
            NativeLibrary.Free(library);
        }
    }

    /// <summary>Device bytes, copied back to the host.</summary>
    public static unsafe byte[] ReadBack(CudaStream stream, CudaDeviceBuffer buffer, ulong offset, int length)
    {
        var bytes = new byte[length];
        fixed (byte* host = bytes)
        {
            stream.CopyToHostAsync((nint)host, buffer, offset, (ulong)length);
            stream.Synchronize();
        }

        return bytes;
    }

    private static string NativeLibraryPath(string fileName)
    {
        var path = Path.Combine(RepositoryPaths.Root, "native", "build", fileName);
        Assert.SkipUnless(File.Exists(path), $"{fileName} not built: run ./build.sh (it builds native/ with CMake)");
        return path;
    }
}
