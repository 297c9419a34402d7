using System.Runtime.InteropServices;

namespace KvTier.Rdma.Native;

/// <summary>kvt_struct_id: which struct kvt_struct_size reports.</summary>
internal enum NativeStructId : uint
{
    DeviceInfo = 1,
    PortInfo = 2,
    MemoryRegionInfo = 3,
    Endpoint = 4,
    ConnectOptions = 5,
    RdmaOperation = 6,
    Completion = 7,
}

/// <summary>kvt_device_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct DeviceInfo
{
    public const int NameBytes = 64;
    public fixed byte Name[NameBytes];
    public ulong NodeGuid;
    public uint PortCount;
    public uint TransportType;
}

/// <summary>kvt_port_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PortInfoNative
{
    public fixed byte Gid[16];
    public uint GidIndex;
    public uint GidType;
    public uint Port;
    public uint State;
    public uint ActiveMtu;
    public uint LinkLayer;
    public ushort Lid;
    public ushort Reserved;
    public uint MaxQueuePairRequests;
    public ulong MaxMemoryRegionSize;
}

/// <summary>kvt_mr_info.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MemoryRegionInfo
{
    public ulong Address;
    public ulong Length;
    public uint LocalKey;
    public uint RemoteKey;
}
