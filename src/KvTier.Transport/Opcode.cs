namespace KvTier.Transport;

/// <summary>What a data-plane frame asks for. Responses carry the opcode of their request.</summary>
public enum Opcode : byte
{
    /// <summary>Liveness probe; empty body both ways.</summary>
    Ping = 1,

    /// <summary>Read a layer range of a batch of blocks (the node verifies checksums and sends the bytes).</summary>
    ReadBlocks = 2,

    /// <summary>Lease a layer range of a batch of blocks and return their arena extents (for one-sided reads).</summary>
    LeaseBlocks = 3,

    /// <summary>Release leases taken by <see cref="LeaseBlocks"/>.</summary>
    ReleaseLeases = 4,

    /// <summary>Store a batch of blocks: reserve, write and commit in one round trip.</summary>
    PutBlocks = 5,

    /// <summary>Reserve arena extents for blocks whose bytes arrive out of band (one-sided writes).</summary>
    ReserveBlocks = 6,

    /// <summary>Commit reservations filled out of band: verify checksums, make the blocks readable.</summary>
    CommitBlocks = 7,

    /// <summary>Which of a batch of keys the node holds.</summary>
    ContainsBlocks = 8,
}
