using System.Runtime.InteropServices;
using KvTier.Testing;

namespace KvTier.Cuda.Tests;

/// <summary>The binding's working path against native/tests/cuda_fake_driver.c (host memory standing in for
/// device memory, registrations tracked like the driver's): no GPU here, so this is where the calls, ranges,
/// error names and the GPU check program are exercised.</summary>
public sealed unsafe partial class FakeDriverTests
{
    internal static string FakeDriver
    {
        get
        {
            var path = Path.Combine(RepositoryPaths.Root, "native", "build", "libcuda_fake_driver.so");
            Assert.SkipUnless(File.Exists(path), "libcuda_fake_driver.so not built: run ./build.sh (it builds native/)");
            return path;
        }
    }

    [Fact]
    public void The_fake_gpu_is_detected_with_its_attributes()
    {
        var report = CudaCapability.Detect(FakeDriver);

        Assert.True(report.IsAvailable, report.Reason);
        var device = Assert.Single(report.Devices);
        Assert.Equal("KvTier Fake GPU", device.Name);
        Assert.Equal(80UL << 30, device.TotalMemoryBytes);
        Assert.Equal("9.0", device.ComputeCapability);
        Assert.Equal("0000:1b:00", device.PciBusId);
        Assert.True(device.GpuDirectRdmaSupported);
        Assert.True(device.DmaBufSupported);
        Assert.Equal(12040, report.DriverVersion);
    }

    [Fact]
    public void Bytes_go_from_a_registered_host_range_to_the_device_and_back_unchanged()
    {
        using var context = CudaContext.Open(0, FakeDriver);
        const int length = 1 << 20;
        var source = (byte*)NativeMemory.AlignedAlloc(length, 4096);
        var back = (byte*)NativeMemory.AlignedAlloc(length, 4096);
        try
        {
            Random.Shared.NextBytes(new Span<byte>(source, length));
            new Span<byte>(back, length).Clear();
            using var pinned = context.RegisterHost((nint)source, length);
            using var buffer = context.Allocate(length);
            using var stream = context.CreateStream();
            using var start = context.CreateEvent();
            using var end = context.CreateEvent();

            stream.Record(start);
            stream.CopyToDeviceAsync(buffer, 0, (nint)source, length);
            stream.CopyToHostAsync((nint)back, buffer, 4093, 3001);
            stream.Record(end);
            stream.Synchronize();
            end.Synchronize();

            Assert.True(new Span<byte>(back, 3001).SequenceEqual(new Span<byte>(source + 4093, 3001)));
            Assert.True(end.ElapsedMillisecondsSince(start) > 0);
        }
        finally
        {
            NativeMemory.AlignedFree(source);
            NativeMemory.AlignedFree(back);
        }
    }

    [Fact]
    public void Registering_a_range_twice_fails_with_the_driver_error_name_until_the_first_is_disposed()
    {
        using var context = CudaContext.Open(0, FakeDriver);
        var memory = NativeMemory.AlignedAlloc(65536, 4096);
        try
        {
            var first = context.RegisterHost((nint)memory, 65536);

            var exception = Assert.Throws<CudaException>(() => context.RegisterHost((nint)memory + 4096, 4096));
            Assert.Contains("CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED", exception.Message, StringComparison.Ordinal);
            Assert.Equal(712, exception.Result);

            first.Dispose();
            context.RegisterHost((nint)memory, 65536).Dispose();
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [Fact]
    public void A_copy_outside_the_device_buffer_is_refused_before_the_driver_sees_it()
    {
        using var context = CudaContext.Open(0, FakeDriver);
        using var buffer = context.Allocate(4096);
        using var stream = context.CreateStream();
        var host = stackalloc byte[16];

        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => stream.CopyToDeviceAsync(buffer, 4090, (nint)host, 16));

        Assert.Contains("[4090, 4106)", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_device_buffer_exports_a_dma_buf_descriptor()
    {
        using var context = CudaContext.Open(0, FakeDriver);
        using var buffer = context.Allocate(1 << 16);

        Assert.True(buffer.TryExportDmaBuf(out var fd, out var reason), reason);
        Assert.True(fd >= 0);
        Assert.Equal(0, Close(fd));
    }

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
