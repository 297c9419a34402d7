using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using KvTier.Cuda;
using KvTier.Rdma;

namespace KvTier.Client.Gpu;

/// <summary>
/// GPUDirect RDMA destinations: GPU memory exported as a dma-buf (cuMemGetHandleForAddressRange) and registered with
/// the NIC (ibv_reg_dmabuf_mr), so an <see cref="RdmaExtentReader"/> reads a node's arena straight into the GPU with
/// no host copy (<see cref="GpuLoadPath.GpuDirectRdma"/>). Where the GPU, driver, kernel or NIC provider cannot, the
/// reason says which, and the engine uses <see cref="GpuKvLoader"/>'s pinned staging instead.
/// </summary>
public static partial class GpuDirectRdma
{
    /// <summary>Registers <paramref name="buffer"/> with <paramref name="rdma"/>'s device for local writes (RDMA READ
    /// destinations). The region's addresses are the buffer's device addresses; dispose the destination's
    /// <see cref="RdmaDestination.Region"/> before the buffer.</summary>
    /// <returns>False, with the reason, when dma-buf export or registration is not possible here.</returns>
    public static bool TryRegister(RdmaContext rdma, CudaDeviceBuffer buffer, [NotNullWhen(true)] out RdmaDestination? destination,
        out string reason)
    {
        ArgumentNullException.ThrowIfNull(rdma);
        ArgumentNullException.ThrowIfNull(buffer);
        destination = null;
        if (!buffer.TryExportDmaBuf(out var fd, out var exportProblem))
        {
            reason = $"GPUDirect RDMA unavailable, using pinned staging: {exportProblem}";
            return false;
        }

        try
        {
            var region = rdma.RegisterDmaBuf(fd, 0, buffer.Length, buffer.Pointer, RdmaAccess.LocalWrite | RdmaAccess.RemoteWrite);
            destination = RdmaDestination.Device(region);
            reason = $"GPUDirect RDMA: {buffer.Length} bytes of GPU memory registered through dma-buf";
            return true;
        }
        catch (RdmaException error)
        {
            reason = $"GPUDirect RDMA unavailable, using pinned staging: {error.Message} (the NIC provider or kernel lacks " +
                     "dma-buf support; nvidia-peermem is the older alternative, see docs/rdma.md)";
            return false;
        }
        finally
        {
            // The registration holds its own reference on the dma-buf.
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
