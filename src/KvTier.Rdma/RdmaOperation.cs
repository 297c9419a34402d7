using System.Runtime.InteropServices;

namespace KvTier.Rdma;

/// <summary>The direction of a one-sided operation.</summary>
public enum RdmaOpcode : uint
{
    /// <summary>Remote memory into the local region.</summary>
    Read = 0,

    /// <summary>The local region into remote memory.</summary>
    Write = 1,
}

/// <summary>Per-operation flags.</summary>
[Flags]
public enum RdmaOperationFlags : uint
{
    /// <summary>Only failures (and the last operation of a batch) complete.</summary>
    None = 0,

    /// <summary>A successful operation also produces a completion.</summary>
    Signaled = 1,
}

/// <summary>One RDMA READ or WRITE (kvt_rdma_op); the local range must lie in the region it is posted with.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RdmaOperation
{
    /// <summary>Caller's identifier, returned in the completion.</summary>
    public ulong RequestId;

    /// <summary>Local virtual address.</summary>
    public ulong LocalAddress;

    /// <summary>Remote virtual address (the peer's registered address space).</summary>
    public ulong RemoteAddress;

    /// <summary>Bytes to move.</summary>
    public uint Length;

    /// <summary>The peer region's remote key.</summary>
    public uint RemoteKey;

    /// <summary>READ or WRITE.</summary>
    public RdmaOpcode Opcode;

    /// <summary>Completion behaviour.</summary>
    public RdmaOperationFlags Flags;
}

/// <summary>How an operation ended (kvt_completion_status).</summary>
public enum RdmaCompletionStatus : uint
{
    /// <summary>Done.</summary>
    Success = 0,

    /// <summary>Local length error.</summary>
    LocalLength = 1,

    /// <summary>The local key or range was wrong.</summary>
    LocalProtection = 2,

    /// <summary>Local queue pair error.</summary>
    LocalQueuePair = 3,

    /// <summary>Not executed: the queue pair failed before it; retry after reconnecting.</summary>
    Flushed = 4,

    /// <summary>Bad remote key, range outside the remote region, or missing permission.</summary>
    RemoteAccess = 5,

    /// <summary>The responder failed the operation.</summary>
    RemoteOperation = 6,

    /// <summary>The peer did not answer (transport retries exhausted).</summary>
    RetryExceeded = 7,

    /// <summary>The peer was not ready too often.</summary>
    ReceiverNotReadyRetryExceeded = 8,

    /// <summary>The responder rejected the request.</summary>
    RemoteInvalidRequest = 9,

    /// <summary>Another verbs status; see <see cref="RdmaCompletion.RawStatus"/>.</summary>
    Other = 10,
}

/// <summary>One work completion (kvt_completion).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RdmaCompletion
{
    /// <summary>The <see cref="RdmaOperation.RequestId"/> of the operation.</summary>
    public ulong RequestId;

    /// <summary>Outcome.</summary>
    public RdmaCompletionStatus Status;

    /// <summary>The verbs status code, for logs.</summary>
    public uint RawStatus;

    /// <summary>READ or WRITE (valid on success).</summary>
    public RdmaOpcode Opcode;

    /// <summary>Bytes transferred (READs).</summary>
    public uint ByteLength;

    /// <summary>The queue pair it belongs to.</summary>
    public uint QueuePairNumber;

    /// <summary>Vendor-specific error detail.</summary>
    public uint VendorError;

    /// <summary>Whether the operation succeeded.</summary>
    public readonly bool Succeeded => Status == RdmaCompletionStatus.Success;
}

/// <summary>RC connection tuning (kvt_connect_options); zero fields take the shim's defaults.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RdmaConnectOptions
{
    /// <summary>Path MTU in bytes; 0 = the smaller active MTU of both ends.</summary>
    public uint PathMtu;

    /// <summary>ACK timeout exponent (4.096 us * 2^n); 0 = 14.</summary>
    public byte Timeout;

    /// <summary>Transport retries before a transfer fails with <see cref="RdmaCompletionStatus.RetryExceeded"/>; 0 = 6
    /// (Soft-RoCE retries forever at 7, so a peer whose queue pair is gone would never be reported there).</summary>
    public byte RetryCount;

    /// <summary>Receiver-not-ready retries; 0 = 7 (infinite).</summary>
    public byte ReceiverNotReadyRetry;

    /// <summary>Outstanding RDMA READs; 0 = 16, clamped to the device.</summary>
    public byte MaxOutstandingReads;

    /// <summary>InfiniBand service level.</summary>
    public byte ServiceLevel;

    /// <summary>RoCE traffic class (DSCP &lt;&lt; 2).</summary>
    public byte TrafficClass;

    /// <summary>GRH hop limit; 0 = 64.</summary>
    public byte HopLimit;

    /// <summary>Minimum RNR NAK timer code; 0 = 12.</summary>
    public byte MinReceiverNotReadyTimer;
}

/// <summary>What remote peers may do with a registered region.</summary>
[Flags]
public enum RdmaAccess : uint
{
    /// <summary>The local NIC may write it (READ destinations).</summary>
    LocalWrite = 1,

    /// <summary>Peers may RDMA WRITE into it (implies local write).</summary>
    RemoteWrite = 2,

    /// <summary>Peers may RDMA READ from it.</summary>
    RemoteRead = 4,
}
