using System.Runtime.InteropServices;

namespace KvTier.Cuda;

/// <summary>The driver entry points, resolved from libcuda.so.1 with <see cref="NativeLibrary.TryGetExport"/>.
/// Versioned names (_v2) are the ones the CUDA headers map the plain names to for 64-bit sizes.</summary>
internal sealed unsafe class CudaDriver
{
    internal const string DefaultLibrary = "libcuda.so.1";

    private CudaDriver(nint library) => Library = library;

    public nint Library { get; }

    public delegate* unmanaged<uint, int> Init;
    public delegate* unmanaged<int*, int> DriverGetVersion;
    public delegate* unmanaged<int*, int> DeviceGetCount;
    public delegate* unmanaged<int*, int, int> DeviceGet;
    public delegate* unmanaged<byte*, int, int, int> DeviceGetName;
    public delegate* unmanaged<nuint*, int, int> DeviceTotalMem;
    public delegate* unmanaged<int*, int, int, int> DeviceGetAttribute;
    public delegate* unmanaged<nint*, int, int> PrimaryContextRetain;
    public delegate* unmanaged<int, int> PrimaryContextRelease;
    public delegate* unmanaged<nint, int> ContextSetCurrent;
    public delegate* unmanaged<ulong*, nuint, int> MemAlloc;
    public delegate* unmanaged<ulong, int> MemFree;
    public delegate* unmanaged<void*, nuint, uint, int> MemHostRegister;
    public delegate* unmanaged<void*, int> MemHostUnregister;
    public delegate* unmanaged<nint*, uint, int> StreamCreate;
    public delegate* unmanaged<nint, int> StreamDestroy;
    public delegate* unmanaged<nint, int> StreamSynchronize;
    public delegate* unmanaged<nint*, uint, int> EventCreate;
    public delegate* unmanaged<nint, int> EventDestroy;
    public delegate* unmanaged<nint, nint, int> EventRecord;
    public delegate* unmanaged<nint, int> EventSynchronize;
    public delegate* unmanaged<nint, int> EventQuery;
    public delegate* unmanaged<nint, nint, uint, int> StreamWaitEvent;
    public delegate* unmanaged<float*, nint, nint, int> EventElapsedTime;
    public delegate* unmanaged<ulong, void*, nuint, nint, int> MemcpyHtoDAsync;
    public delegate* unmanaged<void*, ulong, nuint, nint, int> MemcpyDtoHAsync;
    public delegate* unmanaged<ulong, void*, nuint, int> MemcpyHtoD;
    public delegate* unmanaged<int, byte**, int> GetErrorName;

    /// <summary>Null on drivers older than CUDA 11.3.</summary>
    public delegate* unmanaged<int, int, int> FlushGpuDirectRdmaWrites;

    /// <summary>Null on drivers older than CUDA 11.7.</summary>
    public delegate* unmanaged<void*, ulong, nuint, int, ulong, int> MemGetHandleForAddressRange;

    /// <summary>Loads the driver; null with a reason when the library or an entry point is missing.</summary>
    public static CudaDriver? TryLoad(string path, out string? problem)
    {
        if (!NativeLibrary.TryLoad(path, out var library))
        {
            problem = $"{path} not found (no NVIDIA driver installed)";
            return null;
        }

        var driver = new CudaDriver(library);
        var missing = new List<string>();
        nint Export(string name, bool required = true)
        {
            if (NativeLibrary.TryGetExport(library, name, out var address))
            {
                return address;
            }

            if (required)
            {
                missing.Add(name);
            }

            return 0;
        }

        driver.Init = (delegate* unmanaged<uint, int>)Export("cuInit");
        driver.DriverGetVersion = (delegate* unmanaged<int*, int>)Export("cuDriverGetVersion");
        driver.DeviceGetCount = (delegate* unmanaged<int*, int>)Export("cuDeviceGetCount");
        driver.DeviceGet = (delegate* unmanaged<int*, int, int>)Export("cuDeviceGet");
        driver.DeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export("cuDeviceGetName");
        driver.DeviceTotalMem = (delegate* unmanaged<nuint*, int, int>)Export("cuDeviceTotalMem_v2");
        driver.DeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Export("cuDeviceGetAttribute");
        driver.PrimaryContextRetain = (delegate* unmanaged<nint*, int, int>)Export("cuDevicePrimaryCtxRetain");
        driver.PrimaryContextRelease = (delegate* unmanaged<int, int>)Export("cuDevicePrimaryCtxRelease_v2");
        driver.ContextSetCurrent = (delegate* unmanaged<nint, int>)Export("cuCtxSetCurrent");
        driver.MemAlloc = (delegate* unmanaged<ulong*, nuint, int>)Export("cuMemAlloc_v2");
        driver.MemFree = (delegate* unmanaged<ulong, int>)Export("cuMemFree_v2");
        driver.MemHostRegister = (delegate* unmanaged<void*, nuint, uint, int>)Export("cuMemHostRegister_v2");
        driver.MemHostUnregister = (delegate* unmanaged<void*, int>)Export("cuMemHostUnregister");
        driver.StreamCreate = (delegate* unmanaged<nint*, uint, int>)Export("cuStreamCreate");
        driver.StreamDestroy = (delegate* unmanaged<nint, int>)Export("cuStreamDestroy_v2");
        driver.StreamSynchronize = (delegate* unmanaged<nint, int>)Export("cuStreamSynchronize");
        driver.EventCreate = (delegate* unmanaged<nint*, uint, int>)Export("cuEventCreate");
        driver.EventDestroy = (delegate* unmanaged<nint, int>)Export("cuEventDestroy_v2");
        driver.EventRecord = (delegate* unmanaged<nint, nint, int>)Export("cuEventRecord");
        driver.EventSynchronize = (delegate* unmanaged<nint, int>)Export("cuEventSynchronize");
        driver.EventQuery = (delegate* unmanaged<nint, int>)Export("cuEventQuery");
        driver.StreamWaitEvent = (delegate* unmanaged<nint, nint, uint, int>)Export("cuStreamWaitEvent");
        driver.EventElapsedTime = (delegate* unmanaged<float*, nint, nint, int>)Export("cuEventElapsedTime");
        driver.MemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, int>)Export("cuMemcpyHtoDAsync_v2");
        driver.MemcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, nint, int>)Export("cuMemcpyDtoHAsync_v2");
        driver.MemcpyHtoD = (delegate* unmanaged<ulong, void*, nuint, int>)Export("cuMemcpyHtoD_v2");
        driver.GetErrorName = (delegate* unmanaged<int, byte**, int>)Export("cuGetErrorName");
        driver.FlushGpuDirectRdmaWrites = (delegate* unmanaged<int, int, int>)Export("cuFlushGPUDirectRDMAWrites", required: false);
        driver.MemGetHandleForAddressRange =
            (delegate* unmanaged<void*, ulong, nuint, int, ulong, int>)Export("cuMemGetHandleForAddressRange", required: false);
        if (missing.Count > 0)
        {
            problem = $"{path} lacks {string.Join(", ", missing)} (driver too old or not a CUDA driver)";
            NativeLibrary.Free(library);
            return null;
        }

        problem = null;
        return driver;
    }

    /// <summary>The driver's name for a CUresult (CUDA_ERROR_...), or the number.</summary>
    public string ErrorName(int result)
    {
        byte* name = null;
        if (GetErrorName(result, &name) == 0 && name is not null)
        {
            return Marshal.PtrToStringUTF8((nint)name) ?? result.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return $"CUresult {result}";
    }

    /// <summary>Throws <see cref="CudaException"/> for a failed call.</summary>
    public void Check(int result, string operation)
    {
        if (result != 0)
        {
            throw new CudaException(operation, result, ErrorName(result));
        }
    }
}
