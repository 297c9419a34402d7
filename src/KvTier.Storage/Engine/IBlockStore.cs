namespace KvTier.Storage;

/// <summary>
/// The storage engine as the cache daemon sees it: two-phase puts into a registered host arena, lease-protected
/// reads that hand out arena extents, deletes, existence checks, stats and the blocks held after a restart.
/// Thread-safe.
/// </summary>
public interface IBlockStore : IDisposable
{
    /// <summary>Start of the host arena (register it once with the RDMA NIC or CUDA).</summary>
    nint ArenaAddress { get; }

    /// <summary>Size of the host arena in bytes.</summary>
    long ArenaLength { get; }

    /// <summary>The file the arena is shared through with clients on this host; null when it is private.</summary>
    Arena.SharedArenaFile? SharedArena { get; }

    /// <summary>
    /// Reserves an extent for a block of the given chunks. The reservation is reclaimed if not committed within
    /// <paramref name="timeout"/>. Throws <see cref="ArgumentException"/> for zero chunks, a zero-length chunk,
    /// more chunks than a layout can have, or a block larger than the arena.
    /// </summary>
    BlockReservation Reserve(in BlockId id, ReadOnlySpan<ChunkInfo> chunks, TimeSpan timeout);

    /// <summary>The reserved data bytes, for callers that copy the chunks in (the TCP path and tests).</summary>
    Span<byte> ReservedBytes(in BlockReservation reservation);

    /// <summary>Verifies every chunk's checksum and, only if all match, makes the block visible.</summary>
    CommitResult Commit(in BlockReservation reservation);

    /// <summary>Gives a reservation back without storing anything; false when it was already gone.</summary>
    bool Abort(in BlockReservation reservation);

    /// <summary>
    /// Looks up chunks <paramref name="firstChunk"/>..+<paramref name="chunkCount"/> (-1: to the end), verifies
    /// their checksums and writes their arena extents to <paramref name="extents"/>. On a hit the extents stay
    /// valid until the lease is released or <paramref name="leaseTimeout"/> passes, whichever is first.
    /// </summary>
    ReadResult Read(in BlockId id, int firstChunk, int chunkCount, TimeSpan leaseTimeout, Span<ChunkExtent> extents);

    /// <summary>
    /// The TCP path's read: copies chunks <paramref name="firstChunk"/>..+<paramref name="chunkCount"/> (-1: to the
    /// end) back to back into <paramref name="destination"/>, computing each chunk's checksum in the same pass as the
    /// copy, under a lease held only for the call. On anything but a hit nothing in the destination is valid.
    /// </summary>
    ReadResult CopyOut(in BlockId id, int firstChunk, int chunkCount, Span<byte> destination, out int bytesWritten);

    /// <summary>The bytes of an extent handed out by a read (valid while its lease lasts).</summary>
    ReadOnlySpan<byte> ExtentBytes(in ChunkExtent extent);

    /// <summary>Ends a lease early; false when it had already expired or been released.</summary>
    bool ReleaseLease(ulong leaseId);

    /// <summary>Removes a block (at once, or when its last lease ends); false when it is not stored.</summary>
    bool Delete(in BlockId id);

    /// <summary>Whether a block is stored (committed) in any tier.</summary>
    bool Contains(in BlockId id);

    /// <summary>Batch form of <see cref="Contains"/>.</summary>
    void Exists(ReadOnlySpan<BlockId> ids, Span<bool> present);

    /// <summary>Every committed block with its tier: what to re-publish after a restart.</summary>
    IReadOnlyList<StoredBlock> EnumerateBlocks();

    /// <summary>Counters and sizes of both tiers.</summary>
    StorageStats GetStats();

    /// <summary>Expires leases and reservations and enforces watermarks; also runs on a timer when configured.</summary>
    void Maintain();
}
