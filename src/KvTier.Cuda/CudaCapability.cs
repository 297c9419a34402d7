using System.Text;

namespace KvTier.Cuda;

/// <summary>Whether this machine has a usable NVIDIA GPU, and if not, why.</summary>
public enum CudaAvailability
{
    /// <summary>The driver initialised and reports at least one device.</summary>
    Available,

    /// <summary>libcuda.so.1 is not installed (no NVIDIA driver).</summary>
    DriverMissing,

    /// <summary>The library found is the toolkit's stub libcuda (CUDA_ERROR_STUB_LIBRARY), not a driver.</summary>
    StubLibrary,

    /// <summary>The driver loads but finds no device (CUDA_ERROR_NO_DEVICE or a count of 0).</summary>
    NoDevice,

    /// <summary>cuInit failed otherwise (driver/kernel module mismatch, insufficient driver, ...).</summary>
    InitFailed,
}

/// <summary>One GPU as the driver describes it.</summary>
/// <param name="Ordinal">Device ordinal.</param>
/// <param name="Name">Product name.</param>
/// <param name="TotalMemoryBytes">Device memory.</param>
/// <param name="ComputeCapability">Major.minor.</param>
/// <param name="PciBusId">domain:bus:device, to match the GPU with the NIC on the same PCIe switch.</param>
/// <param name="GpuDirectRdmaSupported">CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_SUPPORTED.</param>
/// <param name="DmaBufSupported">CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED (dma-buf export for ibv_reg_dmabuf_mr).</param>
public sealed record CudaDevice(int Ordinal, string Name, ulong TotalMemoryBytes, string ComputeCapability, string PciBusId,
    bool GpuDirectRdmaSupported, bool DmaBufSupported);

/// <summary>The result of <see cref="CudaCapability.Detect"/>.</summary>
/// <param name="Availability">The verdict.</param>
/// <param name="Reason">One line for logs, naming what is missing.</param>
/// <param name="DriverVersion">cuDriverGetVersion (e.g. 12040), 0 when unknown.</param>
/// <param name="Devices">The GPUs (empty unless available).</param>
public sealed record CudaCapabilityReport(CudaAvailability Availability, string Reason, int DriverVersion,
    IReadOnlyList<CudaDevice> Devices)
{
    /// <summary>Whether a GPU can be used.</summary>
    public bool IsAvailable => Availability == CudaAvailability.Available;
}

/// <summary>Detects the CUDA driver and GPUs without throwing.</summary>
public static class CudaCapability
{
    /// <summary>Environment variable naming the driver library to load instead of libcuda.so.1.</summary>
    public const string LibraryVariable = "KVTIER_CUDA_LIBRARY";

    internal const int ErrorNoDevice = 100;
    internal const int ErrorStubLibrary = 34;

    private const int AttributeComputeMajor = 75;
    private const int AttributeComputeMinor = 76;
    private const int AttributePciBus = 33;
    private const int AttributePciDevice = 34;
    private const int AttributePciDomain = 50;
    private const int AttributeGpuDirectRdma = 116;
    private const int AttributeDmaBuf = 124;

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, (CudaDriver? Driver, CudaCapabilityReport Report)> Loaded = [];

    /// <summary>The library path used when none is given: <c>KVTIER_CUDA_LIBRARY</c> or libcuda.so.1.</summary>
    public static string DefaultLibraryPath =>
        Environment.GetEnvironmentVariable(LibraryVariable) is { Length: > 0 } path ? path : CudaDriver.DefaultLibrary;

    /// <summary>Loads and initialises the driver (once per library path) and lists the GPUs.</summary>
    public static CudaCapabilityReport Detect(string? libraryPath = null) => Load(libraryPath ?? DefaultLibraryPath).Report;

    /// <summary>The initialised driver, or a <see cref="CudaException"/> carrying the detection reason.</summary>
    internal static CudaDriver RequireDriver(string? libraryPath)
    {
        var (driver, report) = Load(libraryPath ?? DefaultLibraryPath);
        return driver is not null && report.IsAvailable
            ? driver
            : throw new CudaException($"No GPU: {report.Reason}");
    }

    private static (CudaDriver? Driver, CudaCapabilityReport Report) Load(string path)
    {
        lock (Gate)
        {
            if (!Loaded.TryGetValue(path, out var entry))
            {
                entry = Initialise(path);
                Loaded[path] = entry;
            }

            return entry;
        }
    }

    private static unsafe (CudaDriver?, CudaCapabilityReport) Initialise(string path)
    {
        var driver = CudaDriver.TryLoad(path, out var problem);
        if (driver is null)
        {
            var availability = problem!.Contains("not found", StringComparison.Ordinal)
                ? CudaAvailability.DriverMissing
                : CudaAvailability.InitFailed;
            return (null, new(availability, $"no GPU: {problem}", 0, []));
        }

        var init = driver.Init(0);
        var version = 0;
        driver.DriverGetVersion(&version);
        if (init != 0)
        {
            var name = driver.ErrorName(init);
            return init switch
            {
                ErrorStubLibrary => (null, new(CudaAvailability.StubLibrary,
                    $"no GPU: {path} is the CUDA toolkit's stub library ({name}), not a driver", version, [])),
                ErrorNoDevice => (null, new(CudaAvailability.NoDevice, $"no GPU: the driver found no device ({name})", version, [])),
                _ => (null, new(CudaAvailability.InitFailed, $"no GPU: cuInit failed with {name} ({init})", version, [])),
            };
        }

        var count = 0;
        var counted = driver.DeviceGetCount(&count);
        if (counted != 0 || count == 0)
        {
            return (null, new(CudaAvailability.NoDevice,
                $"no GPU: the driver reports {count} devices ({driver.ErrorName(counted)})", version, []));
        }

        var devices = new List<CudaDevice>();
        for (var ordinal = 0; ordinal < count; ordinal++)
        {
            devices.Add(Describe(driver, ordinal));
        }

        return (driver, new(CudaAvailability.Available,
            $"GPU available: {string.Join(", ", devices.Select(d => $"{d.Ordinal}: {d.Name}"))} (driver {version})",
            version, devices));
    }

    private static unsafe CudaDevice Describe(CudaDriver driver, int ordinal)
    {
        int handle;
        driver.Check(driver.DeviceGet(&handle, ordinal), $"cuDeviceGet({ordinal})");
        var device = handle;
        var name = stackalloc byte[256];
        driver.Check(driver.DeviceGetName(name, 256, device), "cuDeviceGetName");
        nuint memory;
        driver.Check(driver.DeviceTotalMem(&memory, device), "cuDeviceTotalMem");
        int Attribute(int attribute)
        {
            int value;
            return driver.DeviceGetAttribute(&value, attribute, device) == 0 ? value : 0;
        }

        var text = new ReadOnlySpan<byte>(name, 256);
        var length = text.IndexOf((byte)0);
        return new CudaDevice(ordinal, Encoding.UTF8.GetString(length < 0 ? text : text[..length]), memory,
            $"{Attribute(AttributeComputeMajor)}.{Attribute(AttributeComputeMinor)}",
            $"{Attribute(AttributePciDomain):x4}:{Attribute(AttributePciBus):x2}:{Attribute(AttributePciDevice):x2}",
            Attribute(AttributeGpuDirectRdma) != 0, Attribute(AttributeDmaBuf) != 0);
    }
}
