using System.Runtime.InteropServices;
using KvTier.Testing;

namespace KvTier.Cuda.Tests;

/// <summary>The binding on machines without a usable GPU: every case is a report, none an exception, and opening
/// a context says why it cannot.</summary>
public sealed class NoGpuTests
{
    [Fact]
    public void A_missing_driver_library_is_reported_as_driver_missing()
    {
        var report = CudaCapability.Detect("/nonexistent/libcuda.so.1");

        Assert.Equal(CudaAvailability.DriverMissing, report.Availability);
        Assert.Contains("/nonexistent/libcuda.so.1", report.Reason, StringComparison.Ordinal);
        Assert.Empty(report.Devices);
    }

    [Fact]
    public void This_machine_reports_no_gpu_through_the_default_library()
    {
        var driverInstalled = NativeLibrary.TryLoad("libcuda.so.1", out var handle);
        if (driverInstalled)
        {
            NativeLibrary.Free(handle);
        }

        Assert.SkipWhen(driverInstalled && Directory.Exists("/proc/driver/nvidia/gpus"), "this machine has an NVIDIA GPU");

        var report = CudaCapability.Detect(CudaCapability.DefaultLibraryPath);

        Assert.False(report.IsAvailable);
        Assert.StartsWith("no GPU", report.Reason, StringComparison.Ordinal);
        if (!driverInstalled)
        {
            Assert.Equal(CudaAvailability.DriverMissing, report.Availability);
        }
    }

    [Fact]
    public void The_toolkit_stub_library_is_not_mistaken_for_a_driver()
    {
        var report = CudaCapability.Detect(Stub("libcuda_stub_library.so"));

        Assert.Equal(CudaAvailability.StubLibrary, report.Availability);
        Assert.Contains("CUDA_ERROR_STUB_LIBRARY", report.Reason, StringComparison.Ordinal);
        Assert.Equal(12040, report.DriverVersion);
    }

    [Fact]
    public void A_driver_without_devices_reports_no_device()
    {
        var report = CudaCapability.Detect(Stub("libcuda_stub_no_device.so"));

        Assert.Equal(CudaAvailability.NoDevice, report.Availability);
        Assert.Contains("CUDA_ERROR_NO_DEVICE", report.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_library_that_is_not_a_cuda_driver_names_the_missing_entry_points()
    {
        var notADriver = Path.Combine(RepositoryPaths.Root, "native", "build", "libkvtier_rdma.so");
        Assert.SkipUnless(File.Exists(notADriver), "native/build not built: run ./build.sh");

        var report = CudaCapability.Detect(notADriver);

        Assert.Equal(CudaAvailability.InitFailed, report.Availability);
        Assert.Contains("cuInit", report.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Opening_a_context_without_a_gpu_throws_with_the_reason()
    {
        var exception = Assert.Throws<CudaException>(() => CudaContext.Open(0, Stub("libcuda_stub_no_device.so")));

        Assert.Contains("No GPU", exception.Message, StringComparison.Ordinal);
        Assert.Contains("CUDA_ERROR_NO_DEVICE", exception.Message, StringComparison.Ordinal);
    }

    private static string Stub(string fileName)
    {
        var path = Path.Combine(RepositoryPaths.Root, "native", "build", fileName);
        Assert.SkipUnless(File.Exists(path), $"{fileName} not built: run ./build.sh (it builds native/ with CMake)");
        return path;
    }
}
