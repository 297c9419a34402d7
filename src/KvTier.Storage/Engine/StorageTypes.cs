namespace KvTier.Storage;

/// <summary>Where a block's bytes are.</summary>
public enum StorageTier : byte
{
    /// <summary>In the host arena: readable at once, by RDMA READ or a copy.</summary>
    Host = 1,

    /// <summary>Only in an NVMe segment: a read brings it into the arena first.</summary>
    Nvme = 2,
}

/// <summary>Outcome of <see cref="IBlockStore.Reserve"/>.</summary>
public enum ReserveStatus
{
    /// <summary>An extent is reserved: fill it, then commit.</summary>
    Reserved,

    /// <summary>The block is already stored (puts are idempotent): nothing to write.</summary>
    AlreadyPresent,

    /// <summary>Another writer holds a reservation for this block or it is being deleted; try later or skip.</summary>
    Busy,

    /// <summary>Nothing evictable frees enough room now (everything is leased or reserved).</summary>
    NoSpace,
}

/// <summary>
/// A reserved extent in the host arena. The chunks go back to back from <see cref="DataOffset"/> in the order and
/// lengths the reservation declared; RDMA WRITEs may target these offsets directly.
/// </summary>
/// <param name="Status">Whether the extent exists.</param>
/// <param name="Id">The reservation to commit or abort.</param>
/// <param name="DataOffset">Arena offset of chunk 0.</param>
/// <param name="DataLength">Sum of the chunk lengths.</param>
public readonly record struct BlockReservation(ReserveStatus Status, ulong Id, long DataOffset, long DataLength);

/// <summary>Outcome of <see cref="IBlockStore.Commit"/>.</summary>
public enum CommitStatus
{
    /// <summary>Verified and visible to readers.</summary>
    Committed,

    /// <summary>A chunk's bytes do not match its declared checksum; the reservation is released, nothing stored.</summary>
    ChecksumMismatch,

    /// <summary>The reservation is unknown: it expired and was reclaimed, or was already committed or aborted.</summary>
    UnknownReservation,
}

/// <summary>Outcome of a commit, with the first bad chunk on a mismatch.</summary>
public readonly record struct CommitResult(CommitStatus Status, int BadChunk = -1);

/// <summary>Outcome of <see cref="IBlockStore.Read"/>.</summary>
public enum ReadStatus
{
    /// <summary>Extents handed out under a lease.</summary>
    Hit,

    /// <summary>Not stored here.</summary>
    Miss,

    /// <summary>Stored, but its bytes failed their checksum: the block was dropped and is not served.</summary>
    Corrupt,

    /// <summary>The requested chunk range lies outside the block.</summary>
    InvalidRange,

    /// <summary>The block is on NVMe and no host room could be made to bring it in.</summary>
    NoSpace,
}

/// <summary>Outcome of a read: status, the lease that protects the extents, and the block's chunk count.</summary>
public readonly record struct ReadResult(ReadStatus Status, ulong LeaseId, int ChunkCount, StorageTier ServedFrom);

/// <summary>Why a block left the node (the daemon unpublishes it from the directory).</summary>
public enum RemovalReason
{
    /// <summary>Evicted for room from the last tier holding it.</summary>
    Evicted,

    /// <summary>Deleted by a caller.</summary>
    Deleted,

    /// <summary>Its bytes failed a checksum.</summary>
    Corrupt,
}

/// <summary>A block the node holds, as enumerated after recovery for re-publishing.</summary>
public readonly record struct StoredBlock(BlockId Id, StorageTier Tier, int Bytes);

/// <summary>
/// Receives block lifecycle changes so the daemon can publish and unpublish directory entries. Called on engine
/// threads outside every engine lock; implementations must be quick and must not throw.
/// </summary>
public interface IStorageObserver
{
    /// <summary>A block became readable.</summary>
    void OnCommitted(in BlockId id, int bytes);

    /// <summary>A block now lives in <paramref name="tier"/> only (demoted) or again in the host (promoted).</summary>
    void OnTierChanged(in BlockId id, StorageTier tier);

    /// <summary>A block left the node.</summary>
    void OnRemoved(in BlockId id, RemovalReason reason);
}
