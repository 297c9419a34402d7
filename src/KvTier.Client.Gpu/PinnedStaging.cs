using System.Runtime.InteropServices;
using KvTier.Cuda;

namespace KvTier.Client.Gpu;

/// <summary>Page-aligned host memory registered with cuMemHostRegister, so host-to-device copies from it are DMA at
/// full PCIe speed and truly asynchronous. Grows on demand (re-registering), never shrinks.</summary>
internal sealed unsafe class PinnedStaging(CudaContext context) : IDisposable
{
    private const nuint Alignment = 2 << 20;
    private CudaHostRegistration? registration;

    public nint Address { get; private set; }

    public long Length { get; private set; }

    /// <summary>Makes at least <paramref name="bytes"/> available; the old contents are lost.</summary>
    public void Ensure(long bytes)
    {
        if (bytes <= Length)
        {
            return;
        }

        Release();
        var rounded = (bytes + (long)Alignment - 1) & ~((long)Alignment - 1);
        var memory = NativeMemory.AlignedAlloc((nuint)rounded, Alignment);
        try
        {
            registration = context.RegisterHost((nint)memory, (ulong)rounded);
        }
        catch
        {
            NativeMemory.AlignedFree(memory);
            throw;
        }

        Address = (nint)memory;
        Length = rounded;
    }

    public void Dispose() => Release();

    private void Release()
    {
        registration?.Dispose();
        registration = null;
        if (Address != 0)
        {
            NativeMemory.AlignedFree((void*)Address);
        }

        Address = 0;
        Length = 0;
    }
}
