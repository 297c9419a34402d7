using KvTier.Cuda;

namespace KvTier.Client.Gpu;

/// <summary>How the bytes of a GPU load reached device memory.</summary>
public enum GpuLoadPath
{
    /// <summary>Into pinned host staging over the client's transport, then host-to-device copies per layer.</summary>
    PinnedStaging,

    /// <summary>RDMA READs straight into GPU memory registered with the NIC (GPUDirect RDMA via dma-buf).</summary>
    GpuDirectRdma,
}

/// <summary>Whether a <see cref="GpuKvLoader"/> reads over RDMA straight into GPU memory.</summary>
public enum GpuDirectMode
{
    /// <summary>GPUDirect RDMA where every node serving the load is reached over RDMA, the namespace's codec is
    /// <c>none</c> and the destination registers with the NIC; pinned staging otherwise. Direct loads are verified
    /// by the node as it leases each chunk and by the RDMA transport's CRC on the wire, not again by this CPU.</summary>
    Auto,

    /// <summary>Always through pinned host staging, where this CPU verifies every chunk before it is copied.</summary>
    Off,

    /// <summary>GPUDirect RDMA or an <see cref="InvalidOperationException"/> that says what is missing.</summary>
    Require,
}

/// <summary>Settings of a <see cref="GpuKvLoader"/>.</summary>
public sealed record GpuKvLoaderOptions
{
    /// <summary>GPUDirect RDMA use (default <see cref="GpuDirectMode.Auto"/>).</summary>
    public GpuDirectMode GpuDirect { get; init; } = GpuDirectMode.Auto;

    /// <summary>Largest pinned host staging buffer the loader keeps (grown on demand up to this; default 1 GiB, at
    /// most 2 GiB - 1). A load needing more runs in layer groups that each fit, one after the other.</summary>
    public long MaxStagingBytes { get; init; } = 1L << 30;

    /// <summary>Throws <see cref="ArgumentException"/> naming a bad setting.</summary>
    public void Validate()
    {
        if (MaxStagingBytes <= 0 || MaxStagingBytes > int.MaxValue)
        {
            throw new ArgumentException($"MaxStagingBytes must be 1..{int.MaxValue}, not {MaxStagingBytes}.", nameof(MaxStagingBytes));
        }
    }
}

/// <summary>Which blocks of the cached prefix to load and where to report progress (the layers are the
/// destination's).</summary>
public sealed record GpuLoadOptions
{
    /// <summary>Most leading blocks of the prefix to load (also capped by the destination's capacity).</summary>
    public int MaxBlocks { get; init; } = int.MaxValue;

    /// <summary>Called once per layer when its host-to-device copy is queued and its event recorded: an engine
    /// makes its compute stream wait on <see cref="GpuLayerLoaded.CopyDone"/> (<see cref="CudaStream.WaitFor"/> or
    /// cuStreamWaitEvent on <see cref="CudaEvent.NativeHandle"/>) and launches layer i while later layers load.
    /// Runs on a receive thread: keep it short.</summary>
    public Action<GpuLayerLoaded>? LayerLoaded { get; init; }
}

/// <summary>A layer's copy to the GPU is queued.</summary>
/// <param name="Layer">The layer (absolute).</param>
/// <param name="UsableBlocks">Leading blocks whose chunk of this layer is verified and being copied.</param>
/// <param name="CopyDone">Happens on the GPU when the layer's bytes are in device memory. Owned by the loader;
/// valid until its next load.</param>
public readonly record struct GpuLayerLoaded(int Layer, int UsableBlocks, CudaEvent CopyDone);

/// <summary>One layer of a finished GPU load.</summary>
/// <param name="Layer">The layer (absolute).</param>
/// <param name="UsableBlocks">Leading blocks of this layer in device memory, verified.</param>
/// <param name="StagedAfter">Host time from the start of the load until the layer was verified in staging and its
/// copy queued (over GPUDirect RDMA: until its reads completed and were flushed to the GPU).</param>
/// <param name="CopyDone">Recorded after the layer's copy (owned by the loader, valid until its next load):
/// <c>CopyDone.ElapsedMillisecondsSince(result.Started)</c> is the GPU-side time at which the layer landed.</param>
public sealed record GpuLayerLoad(int Layer, int UsableBlocks, TimeSpan StagedAfter, CudaEvent CopyDone);

/// <summary>Outcome of a GPU load. Only the first <see cref="LoadedBlocks"/> blocks of each layer hold valid data
/// once that layer's <see cref="GpuLayerLoad.CopyDone"/> has happened.</summary>
/// <param name="LoadedBlocks">Length of the usable prefix, in blocks.</param>
/// <param name="RequestedBlocks">Blocks the load asked for.</param>
/// <param name="FirstFailure">Why the prefix ends before <paramref name="RequestedBlocks"/> (null when it does not).</param>
/// <param name="Path">How the bytes travelled.</param>
/// <param name="Layers">Per layer, in layer order.</param>
/// <param name="Started">Recorded on the copy stream when the load began (owned by the loader).</param>
public sealed record GpuLoadResult(int LoadedBlocks, int RequestedBlocks, string? FirstFailure, GpuLoadPath Path,
    IReadOnlyList<GpuLayerLoad> Layers, CudaEvent Started)
{
    /// <summary>Why the load took its <see cref="Path"/> (e.g. why GPUDirect RDMA was not used).</summary>
    public string PathReason { get; init; } = "";
}
