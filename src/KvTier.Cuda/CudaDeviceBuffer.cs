namespace KvTier.Cuda;

/// <summary>Device memory from cuMemAlloc; freed on dispose.</summary>
public sealed unsafe class CudaDeviceBuffer : IDisposable
{
    private const int DmaBufHandleType = 1; // CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD
    private readonly CudaContext context;
    private bool disposed;

    internal CudaDeviceBuffer(CudaContext context, ulong pointer, ulong length)
    {
        this.context = context;
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The device address (CUdeviceptr).</summary>
    public ulong Pointer { get; }

    /// <summary>Bytes.</summary>
    public ulong Length { get; }

    /// <summary>Exports the buffer as a dma-buf file descriptor for ibv_reg_dmabuf_mr (GPUDirect RDMA without
    /// nvidia-peermem). False when the driver is older than 11.7 or the GPU/kernel lack dma-buf support; the
    /// caller falls back to peer-memory registration or a pinned host staging buffer. The caller closes the fd.</summary>
    public bool TryExportDmaBuf(out int fileDescriptor, out string? reason)
    {
        fileDescriptor = -1;
        var driver = context.Driver;
        if (driver.MemGetHandleForAddressRange == null)
        {
            reason = "the driver has no cuMemGetHandleForAddressRange (CUDA 11.7 or newer needed)";
            return false;
        }

        context.MakeCurrent();
        int fd;
        var result = driver.MemGetHandleForAddressRange(&fd, Pointer, (nuint)Length, DmaBufHandleType, 0);
        if (result != 0)
        {
            reason = $"cuMemGetHandleForAddressRange failed: {driver.ErrorName(result)} (open kernel module and " +
                     "a dma-buf capable kernel needed)";
            return false;
        }

        fileDescriptor = fd;
        reason = null;
        return true;
    }

    internal void CheckRange(ulong offset, ulong length)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (offset > Length || length > Length - offset)
        {
            throw new ArgumentOutOfRangeException(nameof(length),
                $"[{offset}, {offset + length}) lies outside the {Length}-byte device buffer.");
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            context.MakeCurrent();
            _ = context.Driver.MemFree(Pointer);
        }
    }
}
