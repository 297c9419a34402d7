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

    /// <summary>Read a layer range of a batch of blocks in one round trip (protocol version 2): the node leases and
    /// verifies the blocks, sends their chunks straight from its arena and releases the leases itself. The TCP load
    /// path; LeaseBlocks, ReadExtents and ReleaseLeases stay as the contract one-sided RDMA reads implement.</summary>
    ReadBlocks = 9,

    /// <summary>Store a batch of new blocks in one round trip (protocol version 3): the block declarations and every
    /// chunk's bytes in one frame; the node reserves each block, receives its bytes straight into the reservation,
    /// verifies and commits it, and answers one status per block. The TCP store path; ReserveBlocks, WriteExtents and
    /// CommitBlocks stay for older peers and as the contract one-sided RDMA writes implement.</summary>
    PutBlocks = 10,

    /// <summary>ReadBlocks with every chunk split in two (protocol version 3): the first bytes of each chunk (as many as
    /// the request names: the codec header) ride in the answer's head, and only the rest of each chunk follows, back
    /// to back, so a client lands the payloads straight in their final place, many per socket read.</summary>
    ReadBlocksSplit = 11,

    /// <summary>Where the node's shared arena file is (protocol version 4), for a client on the same host to map it
    /// read-only and copy leased extents straight out of it (the shared-memory counterpart of one-sided RDMA READs).
    /// Empty request; the answer is a <see cref="Messages.MapArenaAnswer"/>, or a refusal with its reason as UTF-8 text
    /// (<see cref="FrameStatus.BadRequest"/>: the node does not share its arena; <see cref="FrameStatus.Unauthorized"/>:
    /// not with token holders).</summary>
    MapArena = 12,

    /// <summary>Opens a connection: the body is the bearer token (UTF-8; empty without one). Answered by the listener
    /// itself, never by a handler: <see cref="FrameStatus.Ok"/> with a one-byte body naming the newest protocol
    /// version the node speaks (from version 3; a version-2 node's answer is empty), followed from version 4 by the
    /// 16-byte id of the node's run (a restarted node has a new one), or <see cref="FrameStatus.Unauthorized"/> with the
    /// reason as UTF-8 text, after which the node closes the connection. Where the node requires authentication it
    /// must be a connection's first frame. Numbered apart from the verbs, which grow from 1.</summary>
    Authenticate = 32,
}

/// <summary>Which protocol version introduced each opcode. A frame is stamped with the version that introduced its
/// opcode, so a peer of an older version still understands every verb it knows, and a newer verb sent to it is
/// refused by version with a clear message instead of being misread.</summary>
public static class OpcodeVersions
{
    /// <summary>The protocol version that introduced <paramref name="opcode"/>.</summary>
    public static byte IntroducedIn(Opcode opcode) => opcode switch
    {
        Opcode.ReadBlocks or Opcode.Authenticate => 2,
        Opcode.PutBlocks or Opcode.ReadBlocksSplit => 3,
        Opcode.MapArena => 4,
        _ => 1,
    };
}
