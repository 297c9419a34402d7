using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>A registered memory region; holds a reference on its context.</summary>
public sealed unsafe class RdmaMemoryRegion : RdmaHandle
{
    private RdmaMemoryRegion()
    {
    }

    /// <summary>First address (the iova for a dma-buf region).</summary>
    public ulong Address { get; private set; }

    /// <summary>Length in bytes.</summary>
    public ulong Length { get; private set; }

    /// <summary>The key local operations use.</summary>
    public uint LocalKey { get; private set; }

    /// <summary>The key a peer needs to READ or WRITE this region.</summary>
    public uint RemoteKey { get; private set; }

    /// <summary>Whether [address, address + length) lies inside the region.</summary>
    public bool Contains(ulong address, ulong length) =>
        address >= Address && length <= Length && address - Address <= Length - length;

    internal delegate int Register(nint context, nint* region);

    internal static RdmaMemoryRegion Create(RdmaContext context, Register register, string operation)
    {
        var region = new RdmaMemoryRegion();
        AddRefParents(context, null, out var added, out _);
        nint native;
        var result = register(context.DangerousGetHandle(), &native);
        if (result < 0)
        {
            ReleaseParents(context, null, added, false);
            RdmaException.ThrowIfFailed(result, operation);
        }

        region.Adopt(native, context, null);
        MemoryRegionInfo info;
        RdmaException.ThrowIfFailed(NativeMethods.MemoryQuery(native, &info), "Querying a memory region");
        region.Address = info.Address;
        region.Length = info.Length;
        region.LocalKey = info.LocalKey;
        region.RemoteKey = info.RemoteKey;
        return region;
    }

    private protected override int Destroy(nint native) => NativeMethods.MemoryDeregister(native);
}
