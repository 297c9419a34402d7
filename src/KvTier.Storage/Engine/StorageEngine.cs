using KvTier.Core.Hashing;
using KvTier.Storage.Arena;
using KvTier.Storage.Eviction;
using KvTier.Storage.Indexing;
using KvTier.Storage.Nvme;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Storage;

/// <summary>
/// The cache node's storage engine: a host arena with an offset allocator and S3-FIFO eviction, an NVMe tier of
/// log-structured segments that evicted blocks are demoted to, a compact sharded index, leases that keep extents
/// stable for readers, and recovery from the segments at start. Index locks are never held across I/O or hashing.
/// </summary>
public sealed partial class StorageEngine : IBlockStore
{
    [ThreadStatic]
    private static List<(int Slot, BlockId Id)>? expiredScratch;

    private readonly StorageOptions options;
    private readonly HostArena arena;
    private readonly OffsetAllocator allocator;
    private readonly BlockIndex index;
    private readonly IEvictionPolicy hostPolicy;
    private readonly Lock policyGate = new();
    private readonly Lock cleaningGate = new();
    private readonly SegmentStore? segments;
    private readonly TimedClaims leases = new();
    private readonly TimedClaims reservations = new();
    private readonly IStorageObserver? observer;
    private readonly ILogger logger;
    private readonly TimeProvider clock;
    private readonly Timer? maintenance;
    private Counters counters;

    private StorageEngine(StorageOptions options, IStorageObserver? observer)
    {
        options.Validate();
        this.options = options;
        this.observer = observer;
        logger = options.Logger ?? NullLogger.Instance;
        clock = options.TimeProvider;
        arena = options.SharedMemoryDirectory is { } shared
            ? HostArena.CreateShared(shared, options.SharedMemoryOwner, options.InstanceId, options.HostArenaBytes, options.TryLockMemory, logger,
                options.SharedMemoryGroupWrites)
            : HostArena.Create(options.HostArenaBytes, options.TryHugeTlb, options.TryLockMemory, logger);
        try
        {
            var expected = options.ExpectedBlocks > 0 ? options.ExpectedBlocks : (int)Math.Min(int.MaxValue / 2, arena.Length / (64 << 10));
            allocator = new OffsetAllocator(arena.Length, expected);
            index = new BlockIndex(expected);
            hostPolicy = options.HostEvictionPolicy();
            if (options.NvmeDirectory is not null)
            {
                segments = new SegmentStore(options.NvmeDirectory, options.NvmeSegmentBytes, options.NvmeCapacityBytes, options.MaxBlockBytes, logger);
                Recover();
            }
        }
        catch
        {
            segments?.Dispose();
            arena.Dispose();
            throw;
        }

        if (options.MaintenanceInterval > TimeSpan.Zero)
        {
            maintenance = new Timer(_ => MaintainQuietly(), null, options.MaintenanceInterval, options.MaintenanceInterval);
        }
    }

    /// <summary>Maps the arena, opens the NVMe tier and rebuilds the index from its segments.</summary>
    public static StorageEngine Open(StorageOptions options, IStorageObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new StorageEngine(options, observer);
    }

    /// <inheritdoc/>
    public nint ArenaAddress => arena.Address;

    /// <inheritdoc/>
    public long ArenaLength => arena.Length;

    /// <inheritdoc/>
    public SharedArenaFile? SharedArena => arena.Shared;

    /// <summary>Which pages back the arena and whether it is locked (what the machine allowed).</summary>
    public (HugePageMode HugePages, bool Locked) ArenaPages => (arena.HugePages, arena.IsLocked);

    /// <summary>Whether the NVMe tier uses O_DIRECT (null without an NVMe tier).</summary>
    public bool? NvmeDirectIo => segments?.DirectIo;

    internal BlockIndex Index => index;

    internal OffsetAllocator Allocator => allocator;

    internal IEvictionPolicy HostPolicy => hostPolicy;

    /// <inheritdoc/>
    public BlockReservation Reserve(in BlockId id, ReadOnlySpan<ChunkInfo> chunks, TimeSpan timeout)
    {
        var extentLength = ExtentLengthOf(chunks);
        if (timeout <= TimeSpan.Zero || timeout > options.MaxReservationTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, $"A reservation timeout must lie in (0, {options.MaxReservationTimeout}].");
        }

        ExpireDue();
        var gate = index.LockFor(id);
        lock (gate)
        {
            var existing = index.Find(id);
            if (existing >= 0)
            {
                return new BlockReservation(index[existing].State == EntryState.Committed ? ReserveStatus.AlreadyPresent : ReserveStatus.Busy, 0, -1, 0);
            }
        }

        var handle = AllocateHost(extentLength, out var offset);
        if (handle < 0)
        {
            return new BlockReservation(ReserveStatus.NoSpace, 0, -1, 0);
        }

        var tableSize = BlockTable.SizeFor(chunks.Length);
        int slot;
        lock (gate)
        {
            var existing = index.Find(id);
            if (existing >= 0)
            {
                allocator.Free(handle);
                return new BlockReservation(index[existing].State == EntryState.Committed ? ReserveStatus.AlreadyPresent : ReserveStatus.Busy, 0, -1, 0);
            }

            slot = index.Add(id);
            ref var entry = ref index[slot];
            entry.State = EntryState.Reserved;
            entry.HostHandle = handle;
            entry.HostOffsetUnits = (uint)(offset / OffsetAllocator.Granularity);
            entry.ExtentLength = (uint)extentLength;
            var table = arena.Slice(offset, tableSize);
            BlockTable.Write(table, chunks);
            entry.TableChecksum = BlockTable.ChecksumOf(table);
        }

        var reservationId = reservations.Add(slot, id, DeadlineAfter(timeout));
        return new BlockReservation(ReserveStatus.Reserved, reservationId, offset + tableSize, extentLength - tableSize);
    }

    /// <inheritdoc/>
    public Span<byte> ReservedBytes(in BlockReservation reservation)
    {
        if (reservation.Status != ReserveStatus.Reserved || reservations.SlotOf(reservation.Id) < 0)
        {
            throw new InvalidOperationException($"Reservation {reservation.Id:x} is not live (status {reservation.Status}); it may have expired.");
        }

        return arena.Slice(reservation.DataOffset, checked((int)reservation.DataLength));
    }

    /// <inheritdoc/>
    public CommitResult Commit(in BlockReservation reservation)
    {
        if (reservation.Status != ReserveStatus.Reserved || !reservations.TryTake(reservation.Id, out var slot, out var id))
        {
            return new CommitResult(CommitStatus.UnknownReservation);
        }

        // The reservation is ours alone now (expiry can no longer see it), so verify without any lock.
        var gate = index.LockFor(id);
        long offset;
        int length;
        uint tableChecksum;
        lock (gate)
        {
            ref var entry = ref index[slot];
            offset = entry.HostOffset;
            length = (int)entry.ExtentLength;
            tableChecksum = entry.TableChecksum;
        }

        var extent = arena.Slice(offset, length);
        var badChunk = BlockTable.ChecksumOf(extent[..BlockTable.SizeFor(BlockTable.ChunkCount(extent))]) != tableChecksum || !BlockTable.IsWellFormed(extent)
            ? 0
            : BlockTable.FirstCorruptChunk(extent, 0, BlockTable.ChunkCount(extent));
        if (badChunk >= 0)
        {
            lock (gate)
            {
                ref var entry = ref index[slot];
                allocator.Free(entry.HostHandle);
                entry.HostHandle = -1;
                index.Remove(id, slot);
            }

            Interlocked.Increment(ref counters.RejectedCommits);
            logger.LogWarning("Commit of {Block} refused: chunk {Chunk} does not match its declared checksum.", id, badChunk);
            return new CommitResult(CommitStatus.ChecksumMismatch, badChunk);
        }

        lock (gate)
        {
            index[slot].State = EntryState.Committed;
        }

        Interlocked.Increment(ref counters.HostBlocks);
        lock (policyGate)
        {
            hostPolicy.Insert(slot, id.Hash);
        }

        observer?.OnCommitted(id, length);
        return new CommitResult(CommitStatus.Committed);
    }

    /// <inheritdoc/>
    public bool Abort(in BlockReservation reservation)
    {
        if (reservation.Status != ReserveStatus.Reserved || !reservations.TryTake(reservation.Id, out var slot, out var id))
        {
            return false;
        }

        ReleaseReservedSlot(slot, id);
        return true;
    }

    /// <inheritdoc/>
    public ReadResult Read(in BlockId id, int firstChunk, int chunkCount, TimeSpan leaseTimeout, Span<ChunkExtent> extents)
    {
        if (leaseTimeout <= TimeSpan.Zero || leaseTimeout > options.MaxLeaseTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(leaseTimeout), leaseTimeout, $"A lease timeout must lie in (0, {options.MaxLeaseTimeout}].");
        }

        if (firstChunk < 0 || chunkCount == 0 || chunkCount < -1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkCount), $"{firstChunk}+{chunkCount}", "A chunk range needs firstChunk >= 0 and chunkCount > 0 (or -1 for the rest).");
        }

        ExpireDue();
        return ReadWithRetries(id, firstChunk, chunkCount, leaseTimeout, extents, verify: true);
    }

    /// <inheritdoc/>
    public ReadResult CopyOut(in BlockId id, int firstChunk, int chunkCount, Span<byte> destination, out int bytesWritten)
    {
        bytesWritten = 0;
        if (firstChunk < 0 || chunkCount == 0 || chunkCount < -1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkCount), $"{firstChunk}+{chunkCount}", "A chunk range needs firstChunk >= 0 and chunkCount > 0 (or -1 for the rest).");
        }

        ExpireDue();
        var rented = System.Buffers.ArrayPool<ChunkExtent>.Shared.Rent(BlockTable.MaxChunks);
        try
        {
            Span<ChunkExtent> extents = rented;
            // Chunks are verified below in the same pass that copies them (CopyAndChecksum), not in a separate pass.
            var result = ReadWithRetries(id, firstChunk, chunkCount, TimeSpan.FromSeconds(10), extents, verify: false);
            if (result.Status != ReadStatus.Hit)
            {
                return result;
            }

            var count = chunkCount == -1 ? result.ChunkCount - firstChunk : chunkCount;
            var status = ReadStatus.Hit;
            var written = 0;
            for (var position = 0; position < count; position++)
            {
                var extent = extents[position];
                if (destination.Length - written < extent.Length)
                {
                    ReleaseLease(result.LeaseId);
                    throw new ArgumentException($"The destination holds {destination.Length} bytes; chunk {firstChunk + position} ends at {written + extent.Length}.", nameof(destination));
                }

                var target = destination.Slice(written, extent.Length);
                if (CopyAndChecksum.Copy(arena.Slice(extent.ArenaOffset, extent.Length), target) != extent.Checksum)
                {
                    status = ReadStatus.Corrupt;
                    break;
                }

                written += extent.Length;
            }

            if (status == ReadStatus.Corrupt && leases.TryTake(result.LeaseId, out var slot, out var leasedId))
            {
                DropLease(slot, leasedId);
                DropCorrupt(slot, leasedId);
                return result with { Status = ReadStatus.Corrupt, LeaseId = 0 };
            }

            ReleaseLease(result.LeaseId);
            bytesWritten = written;
            return result with { LeaseId = 0 };
        }
        finally
        {
            System.Buffers.ArrayPool<ChunkExtent>.Shared.Return(rented);
        }
    }

    private ReadResult ReadWithRetries(in BlockId id, int firstChunk, int chunkCount, TimeSpan leaseTimeout, Span<ChunkExtent> extents, bool verify)
    {
        for (var attempt = 0; ; attempt++)
        {
            var result = TryRead(id, firstChunk, chunkCount, leaseTimeout, extents, verify);
            if (result is { } done)
            {
                return done;
            }

            if (attempt == 8)
            {
                // The record kept moving under us (heavy cleaning): report a miss rather than spin.
                Interlocked.Increment(ref counters.Misses);
                return new ReadResult(ReadStatus.Miss, 0, 0, 0);
            }
        }
    }

    private ReadResult? TryRead(in BlockId id, int firstChunk, int chunkCount, TimeSpan leaseTimeout, Span<ChunkExtent> extents, bool verify)
    {
        var gate = index.LockFor(id);
        int slot;
        long offset = 0;
        int length;
        uint tableChecksum;
        ulong nvmeLocation = 0;
        bool inHost;
        lock (gate)
        {
            slot = index.Find(id);
            if (slot < 0 || index[slot].State != EntryState.Committed)
            {
                Interlocked.Increment(ref counters.Misses);
                return new ReadResult(ReadStatus.Miss, 0, 0, 0);
            }

            ref var entry = ref index[slot];
            entry.CountAccess();
            inHost = entry.InHost;
            length = (int)entry.ExtentLength;
            tableChecksum = entry.TableChecksum;
            if (inHost)
            {
                if (entry.Leases == ushort.MaxValue)
                {
                    return new ReadResult(ReadStatus.NoSpace, 0, 0, 0);
                }

                entry.Leases++;
                offset = entry.HostOffset;
            }
            else
            {
                nvmeLocation = entry.NvmeLocation;
            }
        }

        if (inHost)
        {
            lock (policyGate)
            {
                hostPolicy.Touch(slot);
            }

            Interlocked.Increment(ref counters.HostHits);
            return Serve(slot, id, offset, length, tableChecksum, firstChunk, chunkCount, leaseTimeout, extents, StorageTier.Host, verifyChunks: verify);
        }

        return ReadFromNvme(slot, id, nvmeLocation, length, tableChecksum, firstChunk, chunkCount, leaseTimeout, extents);
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> ExtentBytes(in ChunkExtent extent) => arena.Slice(extent.ArenaOffset, extent.Length);

    /// <inheritdoc/>
    public bool ReleaseLease(ulong leaseId)
    {
        if (!leases.TryTake(leaseId, out var slot, out var id))
        {
            return false;
        }

        DropLease(slot, id);
        return true;
    }

    /// <inheritdoc/>
    public bool Delete(in BlockId id)
    {
        ulong kill = 0;
        lock (index.LockFor(id))
        {
            var slot = index.Find(id);
            if (slot < 0 || index[slot].State != EntryState.Committed)
            {
                return false;
            }

            kill = RetireLocked(id, slot);
        }

        if (kill != 0)
        {
            segments!.KillInPlace(kill);
        }

        observer?.OnRemoved(id, RemovalReason.Deleted);
        return true;
    }

    /// <inheritdoc/>
    public bool Contains(in BlockId id)
    {
        lock (index.LockFor(id))
        {
            var slot = index.Find(id);
            return slot >= 0 && index[slot].State == EntryState.Committed;
        }
    }

    /// <inheritdoc/>
    public void Exists(ReadOnlySpan<BlockId> ids, Span<bool> present)
    {
        if (present.Length < ids.Length)
        {
            throw new ArgumentException($"{ids.Length} ids need {ids.Length} answers, got room for {present.Length}.", nameof(present));
        }

        for (var position = 0; position < ids.Length; position++)
        {
            present[position] = Contains(ids[position]);
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<StoredBlock> EnumerateBlocks()
    {
        var collector = new BlockCollector { Blocks = [] };
        index.ForEachCommitted(ref collector);
        return collector.Blocks;
    }

    /// <inheritdoc/>
    public StorageStats GetStats() => new()
    {
        HostBlocks = Volatile.Read(ref counters.HostBlocks),
        HostBytes = allocator.CapacityBytes - allocator.FreeBytes,
        HostCapacityBytes = allocator.CapacityBytes,
        Blocks = index.Count,
        NvmeBlocks = Volatile.Read(ref counters.NvmeBlocks),
        NvmeBytes = segments?.LiveBytes ?? 0,
        NvmeCapacityBytes = segments is null ? 0 : segments.MaxSegments * segments.SegmentBytes,
        HostHits = Volatile.Read(ref counters.HostHits),
        NvmeHits = Volatile.Read(ref counters.NvmeHits),
        Misses = Volatile.Read(ref counters.Misses),
        HostEvictions = Volatile.Read(ref counters.HostEvictions),
        Evictions = Volatile.Read(ref counters.Evictions),
        Demotions = Volatile.Read(ref counters.Demotions),
        Promotions = Volatile.Read(ref counters.Promotions),
        LeaseWaits = Volatile.Read(ref counters.LeaseWaits),
        ActiveLeases = leases.Count,
        ActiveReservations = reservations.Count,
        ExpiredLeases = Volatile.Read(ref counters.ExpiredLeases),
        ExpiredReservations = Volatile.Read(ref counters.ExpiredReservations),
        RejectedCommits = Volatile.Read(ref counters.RejectedCommits),
        CorruptReads = Volatile.Read(ref counters.CorruptReads),
        AllocatorFragmentation = allocator.Fragmentation(),
        RecoveredBlocks = Volatile.Read(ref counters.RecoveredBlocks),
        CorruptRecordsSkipped = Volatile.Read(ref counters.CorruptRecords),
        TornRecordsSkipped = Volatile.Read(ref counters.TornRecords),
        SegmentsCleaned = Volatile.Read(ref counters.SegmentsCleaned),
        NvmeWriteErrors = segments is null ? 0 : Interlocked.Read(ref segments.WriteErrors),
        IndexBytes = index.MemoryBytes,
    };

    /// <inheritdoc/>
    public void Maintain()
    {
        ExpireDue();
        var capacity = allocator.CapacityBytes;
        if (capacity - allocator.FreeBytes > options.HostHighWatermark * capacity)
        {
            EvictHostDownTo((long)(options.HostLowWatermark * capacity));
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (maintenance is not null)
        {
            // Wait for a running maintenance pass: it may be copying from the arena we are about to unmap.
            using var stopped = new ManualResetEvent(false);
            if (maintenance.Dispose(stopped))
            {
                stopped.WaitOne();
            }
        }

        segments?.Dispose();
        arena.Dispose();
    }

    private void MaintainQuietly()
    {
        try
        {
            Maintain();
        }
        catch (ObjectDisposedException)
        {
            // The engine is shutting down.
        }
#pragma warning disable CA1031 // A timer callback must not crash the process; the failure is logged.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            logger.LogError(exception, "Storage maintenance failed.");
        }
    }

    private int ExtentLengthOf(ReadOnlySpan<ChunkInfo> chunks)
    {
        if (chunks.Length is 0 or > BlockTable.MaxChunks)
        {
            throw new ArgumentOutOfRangeException(nameof(chunks), chunks.Length, $"A block has 1 to {BlockTable.MaxChunks} chunks.");
        }

        long total = BlockTable.SizeFor(chunks.Length);
        for (var position = 0; position < chunks.Length; position++)
        {
            if (chunks[position].Length <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(chunks), chunks[position].Length, $"Chunk {position} has length {chunks[position].Length}; every chunk needs at least one byte.");
            }

            total += chunks[position].Length;
        }

        if (total > arena.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(chunks), total, $"A block of {total} bytes cannot fit the {arena.Length}-byte host arena.");
        }

        if (total > options.MaxBlockBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(chunks), total, $"A block of {total} bytes exceeds the {options.MaxBlockBytes}-byte limit (MaxBlockBytes).");
        }

        return (int)total;
    }

    private long DeadlineAfter(TimeSpan timeout) => clock.GetTimestamp() + (long)(timeout.TotalSeconds * clock.TimestampFrequency);

    private struct Counters
    {
        public long HostBlocks;
        public long NvmeBlocks;
        public long HostHits;
        public long NvmeHits;
        public long Misses;
        public long HostEvictions;
        public long Evictions;
        public long Demotions;
        public long Promotions;
        public long LeaseWaits;
        public long ExpiredLeases;
        public long ExpiredReservations;
        public long RejectedCommits;
        public long CorruptReads;
        public long RecoveredBlocks;
        public long CorruptRecords;
        public long TornRecords;
        public long SegmentsCleaned;
    }

    private struct BlockCollector : IEntryVisitor
    {
        public List<StoredBlock> Blocks;

        public readonly void Visit(int slot, ref BlockEntry entry) =>
            Blocks.Add(new StoredBlock(entry.Id, entry.InHost ? StorageTier.Host : StorageTier.Nvme, (int)entry.ExtentLength));
    }
}
