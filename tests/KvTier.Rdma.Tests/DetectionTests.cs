using System.Runtime.InteropServices;

namespace KvTier.Rdma.Tests;

/// <summary>Detection and the binding's agreement with the shim it loads.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class DetectionTests
{
    [Fact]
    public void This_machine_reports_why_it_has_no_rdma_instead_of_throwing()
    {
        TestShim.Require();
        var kernelDevices = Directory.Exists("/sys/class/infiniband") &&
                            Directory.EnumerateFileSystemEntries("/sys/class/infiniband").Any();
        Assert.SkipWhen(kernelDevices, "this machine has RDMA devices in /sys/class/infiniband");

        var report = RdmaCapability.Detect();

        var libibverbsPresent = NativeLibrary.TryLoad("libibverbs.so.1", out var handle);
        if (libibverbsPresent)
        {
            NativeLibrary.Free(handle);
        }

        Assert.False(report.IsAvailable);
        Assert.Equal(libibverbsPresent ? RdmaAvailability.NoDevice : RdmaAvailability.LibibverbsMissing, report.Availability);
        Assert.StartsWith(libibverbsPresent ? "no RDMA device" : "libibverbs missing", report.Reason, StringComparison.Ordinal);
        Assert.Empty(report.Devices);
    }

    [Fact]
    public void Opening_a_device_on_this_machine_fails_with_a_clear_error()
    {
        TestShim.Require();
        Assert.SkipWhen(RdmaCapability.Detect().IsAvailable, "this machine has an RDMA device");

        var exception = Assert.Throws<RdmaException>(() => RdmaContext.Open());

        Assert.Contains("no RDMA device", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_fake_device_is_detected_as_available()
    {
        using var fake = TestShim.UseFakeDevice();

        var report = RdmaCapability.Detect();

        Assert.True(report.IsAvailable, report.Reason);
        var device = Assert.Single(report.Devices);
        Assert.Equal("fake0", device.Name);
        Assert.Equal(1u, device.PortCount);
        Assert.Equal(0x0002c90300a1b2c3UL, device.NodeGuid);
    }

    [Fact]
    public void The_binding_and_the_loaded_shim_agree_on_abi_version_and_every_struct_size()
    {
        TestShim.Require();

        Assert.Null(RdmaLibrary.CheckCompatibility());
        Assert.Equal(TestShim.Path, RdmaLibrary.LoadedFrom);
    }

    [Fact]
    public void The_production_shim_exports_the_same_abi_without_the_testing_entry_points()
    {
        var production = Path.Combine(KvTier.Testing.RepositoryPaths.Root, "native", "build", "libkvtier_rdma.so");
        Assert.SkipUnless(File.Exists(production), "native/build/libkvtier_rdma.so not built: run ./build.sh");
        var handle = NativeLibrary.Load(production);
        try
        {
            Assert.True(NativeLibrary.TryGetExport(handle, "kvt_abi_version", out var version));
            unsafe
            {
                Assert.Equal(RdmaLibrary.ExpectedAbiVersion, ((delegate* unmanaged<uint>)version)());
            }

            Assert.False(NativeLibrary.TryGetExport(handle, "kvt_testing_use_fake_device", out _));
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }
}
