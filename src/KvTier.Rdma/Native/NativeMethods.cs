using System.Runtime.InteropServices;

namespace KvTier.Rdma.Native;

/// <summary>The exports of libkvtier_rdma (native/include/kvtier_rdma.h). Every signature is blittable; objects
/// travel as raw pointers, which the SafeHandle types own. Functions return 0 or a count, or -errno.</summary>
internal static unsafe partial class NativeMethods
{
    internal const string Library = "kvtier_rdma";

    [LibraryImport(Library, EntryPoint = "kvt_abi_version")]
    internal static partial uint AbiVersion();

    [LibraryImport(Library, EntryPoint = "kvt_struct_size")]
    internal static partial uint StructSize(uint id);

    [LibraryImport(Library, EntryPoint = "kvt_load")]
    internal static partial int Load();

    [LibraryImport(Library, EntryPoint = "kvt_last_error")]
    internal static partial byte* LastError();

    [LibraryImport(Library, EntryPoint = "kvt_probe")]
    internal static partial int Probe(DeviceInfo* devices, uint capacity, uint* count);

    [LibraryImport(Library, EntryPoint = "kvt_context_open")]
    internal static partial int ContextOpen(byte* name, uint port, int gidIndex, nint* context);

    [LibraryImport(Library, EntryPoint = "kvt_context_port_info")]
    internal static partial int ContextPortInfo(nint context, PortInfoNative* info);

    [LibraryImport(Library, EntryPoint = "kvt_context_close")]
    internal static partial int ContextClose(nint context);

    [LibraryImport(Library, EntryPoint = "kvt_mr_register")]
    internal static partial int MemoryRegister(nint context, void* address, ulong length, uint access, nint* region);

    [LibraryImport(Library, EntryPoint = "kvt_mr_register_dmabuf")]
    internal static partial int MemoryRegisterDmaBuf(nint context, int fd, ulong offset, ulong length, ulong iova,
        uint access, nint* region);

    [LibraryImport(Library, EntryPoint = "kvt_mr_query")]
    internal static partial int MemoryQuery(nint region, MemoryRegionInfo* info);

    [LibraryImport(Library, EntryPoint = "kvt_mr_deregister")]
    internal static partial int MemoryDeregister(nint region);

    [LibraryImport(Library, EntryPoint = "kvt_channel_create")]
    internal static partial int ChannelCreate(nint context, nint* channel);

    [LibraryImport(Library, EntryPoint = "kvt_channel_destroy")]
    internal static partial int ChannelDestroy(nint channel);

    [LibraryImport(Library, EntryPoint = "kvt_channel_wait")]
    internal static partial int ChannelWait(nint channel, int timeoutMilliseconds, nint* completionQueue);

    [LibraryImport(Library, EntryPoint = "kvt_cq_create")]
    internal static partial int CompletionQueueCreate(nint context, uint entries, nint channel, nint* queue);

    [LibraryImport(Library, EntryPoint = "kvt_cq_arm")]
    internal static partial int CompletionQueueArm(nint queue);

    [LibraryImport(Library, EntryPoint = "kvt_cq_poll")]
    internal static partial int CompletionQueuePoll(nint queue, RdmaCompletion* completions, uint capacity);

    [LibraryImport(Library, EntryPoint = "kvt_cq_destroy")]
    internal static partial int CompletionQueueDestroy(nint queue);

    [LibraryImport(Library, EntryPoint = "kvt_qp_create")]
    internal static partial int QueuePairCreate(nint context, nint sendQueue, nint receiveQueue, uint maxSendRequests,
        nint* queuePair);

    [LibraryImport(Library, EntryPoint = "kvt_qp_local_endpoint")]
    internal static partial int QueuePairLocalEndpoint(nint queuePair, RdmaEndpoint* endpoint);

    [LibraryImport(Library, EntryPoint = "kvt_qp_connect")]
    internal static partial int QueuePairConnect(nint queuePair, RdmaEndpoint* remote, RdmaConnectOptions* options);

    [LibraryImport(Library, EntryPoint = "kvt_qp_reset")]
    internal static partial int QueuePairReset(nint queuePair);

    [LibraryImport(Library, EntryPoint = "kvt_qp_post")]
    internal static partial int QueuePairPost(nint queuePair, nint local, RdmaOperation* operations, uint count,
        uint* posted);

    [LibraryImport(Library, EntryPoint = "kvt_qp_destroy")]
    internal static partial int QueuePairDestroy(nint queuePair);

    /// <summary>The shim's description of the last failure on this thread.</summary>
    internal static string LastErrorText()
    {
        var text = LastError();
        return text is null ? string.Empty : Marshal.PtrToStringUTF8((nint)text) ?? string.Empty;
    }
}
