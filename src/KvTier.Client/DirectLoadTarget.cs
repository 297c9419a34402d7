using KvTier.Rdma;

namespace KvTier.Client;

/// <summary>
/// Where a direct load (<see cref="KvTierClient.LoadDirectAsync"/>) lands: memory the client's RDMA device can write
/// into, typically GPU memory registered for GPUDirect RDMA. Layer <c>l</c>'s chunk of block <c>b</c> goes to
/// <c>LayerOffset(l) + b * Layout.BytesPerLayerChunk</c> inside the registered region, the layer-major layout of
/// <see cref="KvTierClient.LoadAsync"/> split per layer. The memory is registered once per RDMA device, on the first
/// load that needs it, through the caller's <c>register</c> function, and deregistered when the target is disposed
/// (dispose it before freeing the memory).
/// </summary>
public sealed class DirectLoadTarget : IDisposable
{
    private readonly Func<RdmaContext, RdmaDestination> register;
    private readonly ulong[] layerOffsets;
    private readonly Lock gate = new();
    private readonly Dictionary<RdmaContext, RdmaDestination> registered = [];
    private bool disposed;

    /// <summary>Describes the memory: <paramref name="layerOffsets"/> holds, from <paramref name="firstLayer"/> on, the
    /// offset of each layer's first chunk inside the region <paramref name="register"/> returns, each layer with room
    /// for <paramref name="bytesPerLayer"/> bytes.</summary>
    /// <param name="register">Registers the memory with a device and returns the region (a <see cref="RdmaMemoryKind.Device"/>
    /// destination, e.g. from GPUDirect registration); throws <see cref="RdmaException"/> when it cannot, with the reason.</param>
    /// <param name="layerOffsets">Per layer, where its chunks start in the region.</param>
    /// <param name="bytesPerLayer">Room at each layer's offset.</param>
    /// <param name="firstLayer">The first layer (absolute) the memory holds.</param>
    public DirectLoadTarget(Func<RdmaContext, RdmaDestination> register, IReadOnlyList<ulong> layerOffsets, long bytesPerLayer, int firstLayer = 0)
    {
        this.register = register ?? throw new ArgumentNullException(nameof(register));
        ArgumentNullException.ThrowIfNull(layerOffsets);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytesPerLayer);
        ArgumentOutOfRangeException.ThrowIfNegative(firstLayer);
        if (layerOffsets.Count == 0)
        {
            throw new ArgumentException("At least one layer offset is needed.", nameof(layerOffsets));
        }

        this.layerOffsets = [.. layerOffsets];
        BytesPerLayer = bytesPerLayer;
        FirstLayer = firstLayer;
    }

    /// <summary>The first layer (absolute) the memory holds.</summary>
    public int FirstLayer { get; }

    /// <summary>How many consecutive layers it holds.</summary>
    public int LayerCount => layerOffsets.Length;

    /// <summary>Room at each layer's offset, in bytes.</summary>
    public long BytesPerLayer { get; }

    /// <summary>Where layer <paramref name="layer"/> (absolute) starts in the registered region.</summary>
    public ulong LayerOffset(int layer)
    {
        if (layer < FirstLayer || layer >= FirstLayer + LayerCount)
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The target holds layers {FirstLayer}..{FirstLayer + LayerCount - 1}.");
        }

        return layerOffsets[layer - FirstLayer];
    }

    /// <summary>Deregisters the memory from every device it was registered with.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            disposed = true;
            foreach (var destination in registered.Values)
            {
                destination.Region.Dispose();
            }

            registered.Clear();
        }
    }

    /// <summary>The region on <paramref name="context"/>'s device, registered on first use.</summary>
    /// <exception cref="RdmaException">The memory cannot be registered with that device.</exception>
    internal RdmaDestination RegionOn(RdmaContext context)
    {
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!registered.TryGetValue(context, out var destination))
            {
                destination = register(context) ?? throw new RdmaException("The direct load target's registration returned no region.");
                if (destination.Kind != RdmaMemoryKind.Device)
                {
                    destination.Region.Dispose();
                    throw new ArgumentException(
                        "A direct load target must be device (GPU) memory; host memory loads through LoadAsync, which verifies every chunk there.");
                }

                registered[context] = destination;
            }

            return destination;
        }
    }
}
