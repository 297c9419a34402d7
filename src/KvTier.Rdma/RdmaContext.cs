using System.Text;
using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>An opened RDMA device port with its protection domain: the root of every other verbs object.</summary>
public sealed unsafe class RdmaContext : RdmaHandle
{
    private RdmaContext()
    {
    }

    /// <summary>The port this context uses and the GID it selected.</summary>
    public RdmaPortInfo Port { get; private set; } = null!;

    /// <summary>Opens <paramref name="deviceName"/> (null = the first device) on <paramref name="port"/>.
    /// <paramref name="gidIndex"/> &lt; 0 picks a RoCE v2 GID with an IPv4 address automatically.</summary>
    /// <exception cref="RdmaException">No such device, the shim or libibverbs is missing, or the device refused.</exception>
    public static RdmaContext Open(string? deviceName = null, uint port = 1, int gidIndex = -1)
    {
        RdmaCapability.EnsureUsable();
        var context = new RdmaContext();
        var name = deviceName is null ? null : Encoding.UTF8.GetBytes(deviceName + "\0");
        nint native;
        int result;
        fixed (byte* namePointer = name)
        {
            result = NativeMethods.ContextOpen(namePointer, port, gidIndex, &native);
        }

        RdmaException.ThrowIfFailed(result, $"Opening RDMA device '{deviceName ?? "(first)"}' port {port} GID index {gidIndex}");
        context.Adopt(native, null, null);
        PortInfoNative info;
        RdmaException.ThrowIfFailed(NativeMethods.ContextPortInfo(native, &info), "Reading port info");
        context.Port = RdmaPortInfo.From(info);
        return context;
    }

    /// <summary>Registers [address, address + length) for the NIC; the memory must stay allocated until the
    /// region is disposed. Pinning it counts against RLIMIT_MEMLOCK (see docs/rdma.md).</summary>
    public RdmaMemoryRegion RegisterMemory(nint address, ulong length, RdmaAccess access)
    {
        if (address == 0 || length == 0)
        {
            throw new ArgumentException($"Cannot register the range at 0x{address:x} of {length} bytes.", nameof(length));
        }

        return RdmaMemoryRegion.Create(this, (ctx, region) =>
            NativeMethods.MemoryRegister(ctx, (void*)address, length, (uint)access, region), "Registering memory");
    }

    /// <summary>Registers device memory exported as a dma-buf (GPUDirect RDMA without nvidia-peermem).</summary>
    public RdmaMemoryRegion RegisterDmaBuf(int fileDescriptor, ulong offset, ulong length, ulong iova, RdmaAccess access) =>
        RdmaMemoryRegion.Create(this, (ctx, region) =>
            NativeMethods.MemoryRegisterDmaBuf(ctx, fileDescriptor, offset, length, iova, (uint)access, region),
            "Registering dma-buf memory");

    /// <summary>A completion channel: lets a thread sleep until a CQ bound to it has work.</summary>
    public RdmaCompletionChannel CreateCompletionChannel() => RdmaCompletionChannel.Create(this);

    /// <summary>A completion queue of <paramref name="entries"/> slots, optionally bound to a channel.</summary>
    public RdmaCompletionQueue CreateCompletionQueue(uint entries, RdmaCompletionChannel? channel = null) =>
        RdmaCompletionQueue.Create(this, entries, channel);

    /// <summary>A reliable-connected queue pair completing into <paramref name="completionQueue"/>; at most
    /// <paramref name="maxSendRequests"/> operations per post and outstanding.</summary>
    public RdmaQueuePair CreateQueuePair(RdmaCompletionQueue completionQueue, uint maxSendRequests) =>
        RdmaQueuePair.Create(this, completionQueue, maxSendRequests);

    private protected override int Destroy(nint native) => NativeMethods.ContextClose(native);
}

/// <summary>An opened port's properties and selected GID.</summary>
/// <param name="Gid">The GID the context sends from (16 bytes).</param>
/// <param name="GidIndex">Its index in the port's GID table.</param>
/// <param name="GidType">0 InfiniBand, 1 RoCE v1, 2 RoCE v2, 255 unknown.</param>
/// <param name="PortNumber">The port.</param>
/// <param name="State">ibv_port_state; 4 is ACTIVE.</param>
/// <param name="ActiveMtu">Active MTU in bytes.</param>
/// <param name="LinkLayer">1 InfiniBand, 2 Ethernet (RoCE).</param>
/// <param name="Lid">Local identifier (InfiniBand).</param>
/// <param name="MaxQueuePairRequests">The device's max_qp_wr.</param>
/// <param name="MaxMemoryRegionSize">The device's max_mr_size.</param>
public sealed record RdmaPortInfo(byte[] Gid, uint GidIndex, uint GidType, uint PortNumber, uint State, uint ActiveMtu,
    uint LinkLayer, ushort Lid, uint MaxQueuePairRequests, ulong MaxMemoryRegionSize)
{
    /// <summary>Whether the port is ACTIVE.</summary>
    public bool IsActive => State == 4;

    internal static unsafe RdmaPortInfo From(in PortInfoNative info)
    {
        var gid = new byte[16];
        fixed (byte* source = info.Gid)
        {
            new ReadOnlySpan<byte>(source, 16).CopyTo(gid);
        }

        return new RdmaPortInfo(gid, info.GidIndex, info.GidType, info.Port, info.State, info.ActiveMtu, info.LinkLayer,
            info.Lid, info.MaxQueuePairRequests, info.MaxMemoryRegionSize);
    }
}
