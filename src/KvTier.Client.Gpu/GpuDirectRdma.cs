using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using KvTier.Cuda;
using KvTier.Rdma;

namespace KvTier.Client.Gpu;

/// <summary>
/// GPUDirect RDMA destinations: GPU memory exported as a dma-buf (cuMemGetHandleForAddressRange) and registered with
/// the NIC (ibv_reg_dmabuf_mr), so an <see cref="RdmaExtentReader"/> reads a node's arena straight into the GPU with
/// no host copy (<see cref="GpuLoadPath.GpuDirectRdma"/>); nvidia-peermem registration of the device address is the
/// fallback. Where neither works, the reason says which piece is missing, and the engine uses
/// <see cref="GpuKvLoader"/>'s pinned staging instead.
/// </summary>
public static partial class GpuDirectRdma
{
    private const RdmaAccess Access = RdmaAccess.LocalWrite | RdmaAccess.RemoteWrite;

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
        string dmaBufProblem;
        if (buffer.TryExportDmaBuf(out var fd, out var exportProblem))
        {
            try
            {
                var region = rdma.RegisterDmaBuf(fd, 0, buffer.Length, buffer.Pointer, Access);
                destination = RdmaDestination.Device(region);
                reason = $"GPUDirect RDMA: {buffer.Length} bytes of GPU memory registered through dma-buf";
                return true;
            }
            catch (RdmaException error)
            {
                dmaBufProblem = $"dma-buf registration refused ({error.Message}; the NIC provider or kernel lacks dma-buf support)";
            }
            finally
            {
                // The registration holds its own reference on the dma-buf.
                _ = Close(fd);
            }
        }
        else
        {
            dmaBufProblem = exportProblem!;
        }

        // The older path: with the nvidia-peermem module loaded, ibv_reg_mr accepts a device address directly.
        try
        {
            var region = rdma.RegisterMemory((nint)buffer.Pointer, buffer.Length, Access);
            destination = RdmaDestination.Device(region);
            reason = $"GPUDirect RDMA: {buffer.Length} bytes of GPU memory registered through nvidia-peermem ({dmaBufProblem})";
            return true;
        }
        catch (RdmaException error)
        {
            reason = $"GPUDirect RDMA unavailable, using pinned staging: {dmaBufProblem}; peer-memory registration " +
                     $"refused too ({error.Message}; is nvidia-peermem loaded? see docs/rdma.md)";
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
