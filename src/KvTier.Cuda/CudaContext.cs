namespace KvTier.Cuda;

/// <summary>A GPU's primary context (the one the CUDA runtime and frameworks such as PyTorch share), retained
/// until disposed. Every call makes it current on the calling thread first, so it can be used from any thread.</summary>
public sealed unsafe class CudaContext : IDisposable
{
    private readonly nint context;
    private bool disposed;

    private CudaContext(CudaDriver driver, int device, nint context, CudaDevice description)
    {
        Driver = driver;
        DeviceHandle = device;
        this.context = context;
        Device = description;
    }

    /// <summary>The GPU.</summary>
    public CudaDevice Device { get; }

    internal CudaDriver Driver { get; }

    internal int DeviceHandle { get; }

    /// <summary>Retains the primary context of GPU <paramref name="ordinal"/>.</summary>
    /// <exception cref="CudaException">No GPU (the message says why) or the driver refused.</exception>
    public static CudaContext Open(int ordinal = 0, string? libraryPath = null)
    {
        var driver = CudaCapability.RequireDriver(libraryPath);
        var report = CudaCapability.Detect(libraryPath);
        if (ordinal < 0 || ordinal >= report.Devices.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(ordinal), ordinal, $"This machine has {report.Devices.Count} GPUs.");
        }

        int device;
        driver.Check(driver.DeviceGet(&device, ordinal), $"cuDeviceGet({ordinal})");
        nint context;
        driver.Check(driver.PrimaryContextRetain(&context, device), "cuDevicePrimaryCtxRetain");
        return new CudaContext(driver, device, context, report.Devices[ordinal]);
    }

    /// <summary>Page-locks and maps an existing host range (e.g. the node arena) for DMA: async copies from it
    /// run at full PCIe speed. Unregistered when the result is disposed.</summary>
    public CudaHostRegistration RegisterHost(nint address, ulong length, bool portable = true)
    {
        if (address == 0 || length == 0)
        {
            throw new ArgumentException($"Cannot register the host range at 0x{address:x} of {length} bytes.", nameof(length));
        }

        MakeCurrent();
        Driver.Check(Driver.MemHostRegister((void*)address, (nuint)length, portable ? 1u : 0u),
            $"cuMemHostRegister of {length} bytes (memlock limit? see docs/rdma.md)");
        return new CudaHostRegistration(this, address, length);
    }

    /// <summary>Allocates device memory.</summary>
    public CudaDeviceBuffer Allocate(ulong length)
    {
        ArgumentOutOfRangeException.ThrowIfZero(length);
        MakeCurrent();
        ulong pointer;
        Driver.Check(Driver.MemAlloc(&pointer, (nuint)length), $"cuMemAlloc of {length} bytes");
        return new CudaDeviceBuffer(this, pointer, length);
    }

    /// <summary>A non-blocking stream (does not synchronise with the legacy default stream).</summary>
    public CudaStream CreateStream()
    {
        MakeCurrent();
        nint stream;
        Driver.Check(Driver.StreamCreate(&stream, 1), "cuStreamCreate");
        return new CudaStream(this, stream);
    }

    /// <summary>An event that records timing.</summary>
    public CudaEvent CreateEvent()
    {
        MakeCurrent();
        nint handle;
        Driver.Check(Driver.EventCreate(&handle, 0), "cuEventCreate");
        return new CudaEvent(this, handle);
    }

    /// <summary>Synchronous host-to-device copy (what cudaMemcpy does); stages through the driver's pinned
    /// buffers when <paramref name="source"/> is pageable.</summary>
    public void CopyToDevice(CudaDeviceBuffer destination, ulong offset, nint source, ulong length)
    {
        ArgumentNullException.ThrowIfNull(destination);
        destination.CheckRange(offset, length);
        MakeCurrent();
        Driver.Check(Driver.MemcpyHtoD(destination.Pointer + offset, (void*)source, (nuint)length), "cuMemcpyHtoD");
    }

    /// <summary>Blocks until RDMA writes a NIC has completed into this GPU's memory (GPUDirect RDMA) are visible to
    /// work launched on this context afterwards (cuFlushGPUDirectRDMAWrites, target: current context, scope: owner).
    /// Call it after the RDMA completions and before recording the event kernels wait on. False where the driver has
    /// no such call or the GPU does not support it: there the platform orders those writes itself or the caller must.</summary>
    public bool FlushGpuDirectRdmaWrites()
    {
        const int CurrentContext = 0; // CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TARGET_CURRENT_CTX
        const int ToOwner = 100; // CU_FLUSH_GPU_DIRECT_RDMA_WRITES_TO_OWNER
        const int NotSupported = 801; // CUDA_ERROR_NOT_SUPPORTED
        if (Driver.FlushGpuDirectRdmaWrites is null)
        {
            return false;
        }

        MakeCurrent();
        var result = Driver.FlushGpuDirectRdmaWrites(CurrentContext, ToOwner);
        if (result == NotSupported)
        {
            return false;
        }

        Driver.Check(result, "cuFlushGPUDirectRDMAWrites");
        return true;
    }

    internal void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        Driver.Check(Driver.ContextSetCurrent(context), "cuCtxSetCurrent");
    }

    /// <summary>Releases the primary context (its memory goes when the last user releases it).</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            _ = Driver.PrimaryContextRelease(DeviceHandle);
        }
    }
}
