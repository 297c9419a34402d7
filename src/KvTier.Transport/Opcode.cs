namespace KvTier.Transport;

/// <summary>
/// What a data-plane frame asks for. Responses carry the opcode of their request. The verbs mirror one-sided RDMA:
/// a lease or reservation hands out arena extents, and reads/writes move the bytes of those extents (over TCP the
/// node's CPU does it; over RDMA the NIC does), so the client code above the transport is the same.
/// </summary>
public enum Opcode : byte
{
    /// <summary>Liveness probe; empty body both ways.</summary>
    Ping = 1,

    /// <summary>Lease a layer range of a batch of blocks; the response lists each block's chunk extents.</summary>
    LeaseBlocks = 2,

    /// <summary>Read leased extents (the TCP counterpart of one-sided RDMA READs).</summary>
    ReadExtents = 3,

    /// <summary>Release leases before they expire.</summary>
    ReleaseLeases = 4,

    /// <summary>Reserve arena extents for new blocks (two-phase put, phase one).</summary>
    ReserveBlocks = 5,

    /// <summary>Fill reserved extents (the TCP counterpart of one-sided RDMA WRITEs).</summary>
    WriteExtents = 6,

    /// <summary>Commit reservations: verify checksums, make the blocks readable (two-phase put, phase two).</summary>
    CommitBlocks = 7,

    /// <summary>Which of a batch of keys the node holds.</summary>
    ContainsBlocks = 8,

    /// <summary>Opens a connection: the body is the bearer token (UTF-8; empty without one). Answered by the listener
    /// itself, never by a handler: <see cref="FrameStatus.Ok"/>, or <see cref="FrameStatus.Unauthorized"/> with the
    /// reason as UTF-8 text, after which the node closes the connection. Where the node requires authentication it
    /// must be a connection's first frame. Numbered apart from the verbs, which grow from 1.</summary>
    Authenticate = 32,
}
