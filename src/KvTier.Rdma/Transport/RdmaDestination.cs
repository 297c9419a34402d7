namespace KvTier.Rdma;

/// <summary>What kind of memory an RDMA destination (or source) region covers.</summary>
public enum RdmaMemoryKind
{
    /// <summary>Host memory: the reader can verify each chunk's checksum after it lands.</summary>
    Host,

    /// <summary>GPU memory registered through dma-buf (GPUDirect RDMA): the NIC writes straight into the GPU, the
    /// CPU cannot read it, so chunks are delivered unverified (<see cref="RdmaTransferStatus.Delivered"/>).</summary>
    Device,
}

/// <summary>A registered local region that one-sided transfers read into or write from, with its memory kind.
/// Offsets of transfers are relative to <see cref="RdmaMemoryRegion.Address"/>.</summary>
public sealed class RdmaDestination
{
    private RdmaDestination(RdmaMemoryRegion region, RdmaMemoryKind kind)
    {
        Region = region;
        Kind = kind;
    }

    /// <summary>The registered region (registered with at least local write for reads).</summary>
    public RdmaMemoryRegion Region { get; }

    /// <summary>Host or GPU memory.</summary>
    public RdmaMemoryKind Kind { get; }

    /// <summary>A host region (e.g. a pinned staging buffer or the engine's host KV cache).</summary>
    public static RdmaDestination Host(RdmaMemoryRegion region) =>
        new(region ?? throw new ArgumentNullException(nameof(region)), RdmaMemoryKind.Host);

    /// <summary>A GPU region registered with <see cref="RdmaContext.RegisterDmaBuf"/>, whose iova is the device
    /// address.</summary>
    public static RdmaDestination Device(RdmaMemoryRegion region) =>
        new(region ?? throw new ArgumentNullException(nameof(region)), RdmaMemoryKind.Device);
}
