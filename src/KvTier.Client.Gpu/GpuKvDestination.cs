using KvTier.Core;
using KvTier.Cuda;
using KvTier.Rdma;

namespace KvTier.Client.Gpu;

/// <summary>
/// Where a GPU load lands: one device address per layer, each the start of that layer's chunks for consecutive
/// blocks (block <c>b</c> at <c>address + b * Layout.BytesPerLayerChunk</c>), which is the layer-major layout of
/// <see cref="KvTierClient"/> split per layer. Either one device buffer cut into layers, or addresses an engine
/// owns (its per-layer KV cache tensors).
/// </summary>
/// <remarks>
/// A destination cut from one buffer can also be loaded into with GPUDirect RDMA: the first such load registers the
/// buffer with the client's RDMA device (dma-buf, else nvidia-peermem). Dispose the destination to deregister it
/// before freeing the buffer.
/// </remarks>
public sealed class GpuKvDestination : IDisposable
{
    private readonly ulong[] layerAddresses;
    private readonly CudaDeviceBuffer? buffer;
    private readonly Lock gate = new();
    private DirectLoadTarget? direct;
    private bool disposed;

    private GpuKvDestination(ulong[] layerAddresses, long bytesPerLayer, int firstLayer, CudaDeviceBuffer? buffer)
    {
        this.layerAddresses = layerAddresses;
        BytesPerLayer = bytesPerLayer;
        FirstLayer = firstLayer;
        this.buffer = buffer;
    }

    /// <summary>The first layer (absolute) this destination holds.</summary>
    public int FirstLayer { get; }

    /// <summary>How many consecutive layers it holds.</summary>
    public int LayerCount => layerAddresses.Length;

    /// <summary>Bytes available at each layer's address.</summary>
    public long BytesPerLayer { get; }

    /// <summary>The device address of <paramref name="layer"/> (absolute layer number).</summary>
    public ulong LayerAddress(int layer)
    {
        if (layer < FirstLayer || layer >= FirstLayer + LayerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer,
                $"The destination holds layers {FirstLayer}..{FirstLayer + LayerCount - 1}.");
        }

        return layerAddresses[layer - FirstLayer];
    }

    /// <summary>How many blocks of <paramref name="kvNamespace"/> fit in each layer.</summary>
    public int BlockCapacity(KvNamespace kvNamespace)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        return (int)Math.Min(int.MaxValue, BytesPerLayer / kvNamespace.Layout.BytesPerLayerChunk);
    }

    /// <summary>Cuts <paramref name="buffer"/> into <paramref name="layerCount"/> layers (0: every layer from
    /// <paramref name="firstLayer"/>) of <paramref name="blocks"/> blocks each, layer-major, exactly as
    /// <see cref="KvTierClient.BufferBytes"/> sizes a host buffer.</summary>
    /// <exception cref="ArgumentException">The layer range is outside the model, or the buffer is too small.</exception>
    public static GpuKvDestination ForBlocks(CudaDeviceBuffer buffer, KvNamespace kvNamespace, int blocks, int firstLayer = 0,
        int layerCount = 0)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blocks);
        var layers = kvNamespace.Layout.Layers;
        var count = layerCount == 0 ? layers - firstLayer : layerCount;
        if (firstLayer < 0 || count <= 0 || firstLayer + count > layers)
        {
            throw new ArgumentException(
                $"Layers {firstLayer}..{firstLayer + count - 1} are outside the {layers} layers of namespace {kvNamespace.Id}.",
                nameof(layerCount));
        }

        var needed = KvTierClient.BufferBytes(kvNamespace, blocks, count);
        if ((ulong)needed > buffer.Length)
        {
            throw new ArgumentException(
                $"The {buffer.Length}-byte device buffer cannot hold {blocks} blocks x {count} layers x {kvNamespace.Layout.BytesPerLayerChunk} bytes = {needed}.",
                nameof(buffer));
        }

        var bytesPerLayer = KvTierClient.BufferBytes(kvNamespace, blocks, 1);
        var addresses = new ulong[count];
        for (var i = 0; i < count; i++)
        {
            addresses[i] = buffer.Pointer + (ulong)(i * bytesPerLayer);
        }

        return new GpuKvDestination(addresses, bytesPerLayer, firstLayer, buffer);
    }

    /// <summary>Device addresses an engine owns, one per layer from <paramref name="firstLayer"/>, each with
    /// <paramref name="bytesPerLayer"/> bytes of device memory of the loader's GPU. The binding cannot check
    /// addresses it did not allocate.</summary>
    public static GpuKvDestination FromLayerAddresses(IReadOnlyList<ulong> layerAddresses, long bytesPerLayer, int firstLayer = 0)
    {
        ArgumentNullException.ThrowIfNull(layerAddresses);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerLayer);
        ArgumentOutOfRangeException.ThrowIfNegative(firstLayer);
        if (layerAddresses.Count == 0)
        {
            throw new ArgumentException("At least one layer address is needed.", nameof(layerAddresses));
        }

        var addresses = layerAddresses.ToArray();
        var zero = Array.IndexOf(addresses, 0UL);
        if (zero >= 0)
        {
            throw new ArgumentException($"The address of layer {firstLayer + zero} is 0.", nameof(layerAddresses));
        }

        return new GpuKvDestination(addresses, bytesPerLayer, firstLayer, null);
    }

    /// <summary>Deregisters the buffer from the RDMA device if a GPUDirect load registered it.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            direct?.Dispose();
            direct = null;
        }
    }

    /// <summary>The destination as a target for <see cref="KvTierClient.LoadDirectAsync"/>; null with the reason when
    /// it cannot be one (engine-owned addresses are not one registrable buffer).</summary>
    internal DirectLoadTarget? DirectTarget(out string reason)
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (buffer is null)
            {
                reason = "the destination is engine-owned per-layer addresses, not one device buffer the NIC can register";
                return null;
            }

            reason = "one device buffer";
            return direct ??= new DirectLoadTarget(Register, [.. layerAddresses.Select(a => a - buffer.Pointer)], BytesPerLayer, FirstLayer);
        }
    }

    private RdmaDestination Register(RdmaContext rdma) =>
        GpuDirectRdma.TryRegister(rdma, buffer!, out var destination, out var reason) ? destination : throw new RdmaException(reason);
}
