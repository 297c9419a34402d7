using KvTier.Storage.Arena;
using KvTier.Storage.Indexing;
using Microsoft.Extensions.Logging;

namespace KvTier.Storage;

/// <summary>Read side: verification, leases, NVMe reads and promotion.</summary>
public sealed partial class StorageEngine
{
    /// <summary>Verifies and hands out the requested chunks of a host extent the caller already holds a lease count on.</summary>
    private ReadResult Serve(int slot, BlockId id, long offset, int length, uint tableChecksum, int firstChunk, int chunkCount,
        TimeSpan leaseTimeout, Span<ChunkExtent> extents, StorageTier servedFrom, bool verifyChunks)
    {
        // The table is always checked; chunk checks are skipped only for callers that verify their copy (CopyOut).
        var extent = arena.Slice(offset, length);
        if ((!BlockTable.IsWellFormed(extent) || BlockTable.ChecksumOf(extent[..BlockTable.SizeFor(BlockTable.ChunkCount(extent))]) != tableChecksum))
        {
            DropLease(slot, id);
            DropCorrupt(slot, id);
            return new ReadResult(ReadStatus.Corrupt, 0, 0, servedFrom);
        }

        var total = BlockTable.ChunkCount(extent);
        var count = chunkCount == -1 ? total - firstChunk : chunkCount;
        if (count <= 0 || firstChunk + count > total)
        {
            DropLease(slot, id);
            return new ReadResult(ReadStatus.InvalidRange, 0, total, servedFrom);
        }

        if (extents.Length < count)
        {
            DropLease(slot, id);
            throw new ArgumentException($"{count} chunks need {count} extents, got room for {extents.Length}.", nameof(extents));
        }

        if (verifyChunks && BlockTable.FirstCorruptChunk(extent, firstChunk, count) >= 0)
        {
            DropLease(slot, id);
            DropCorrupt(slot, id);
            return new ReadResult(ReadStatus.Corrupt, 0, total, servedFrom);
        }

        for (var position = 0; position < count; position++)
        {
            var (chunkOffset, chunkLength, checksum) = BlockTable.Chunk(extent, firstChunk + position);
            extents[position] = new ChunkExtent(offset + chunkOffset, chunkLength, checksum);
        }

        var leaseId = leases.Add(slot, id, DeadlineAfter(leaseTimeout));
        return new ReadResult(ReadStatus.Hit, leaseId, total, servedFrom);
    }

    /// <summary>Brings an NVMe block into the arena and serves it; null when the record moved meanwhile (retry).</summary>
    private ReadResult? ReadFromNvme(int slot, BlockId id, ulong location, int length, uint tableChecksum, int firstChunk, int chunkCount,
        TimeSpan leaseTimeout, Span<ChunkExtent> extents)
    {
        // Room first: making room may clean a segment, which reuses this thread's read buffer.
        var handle = AllocateHost(length, out var offset);
        if (handle < 0)
        {
            return new ReadResult(ReadStatus.NoSpace, 0, 0, StorageTier.Nvme);
        }

        var record = segments!.Read(location, id, length);
        var copy = arena.Slice(offset, length);
        var good = record.Length == length;
        if (good)
        {
            record.CopyTo(copy);
            good = BlockTable.IsWellFormed(copy) && BlockTable.ChecksumOf(copy[..BlockTable.SizeFor(BlockTable.ChunkCount(copy))]) == tableChecksum
                && BlockTable.FirstCorruptChunk(copy, 0, BlockTable.ChunkCount(copy)) < 0;
        }

        if (!good)
        {
            allocator.Free(handle);
            if (RecordMoved(slot, id, location))
            {
                return null; // cleaned or deleted while we read: not corruption
            }

            logger.LogWarning("NVMe record of {Block} failed its checksum; dropping the block.", id);
            DropCorrupt(slot, id, nvmeLocation: location);
            return new ReadResult(ReadStatus.Corrupt, 0, 0, StorageTier.Nvme);
        }

        bool promoted;
        var sharedCopy = false;
        lock (index.LockFor(id))
        {
            if (index.Find(id) != slot || index[slot].State != EntryState.Committed)
            {
                allocator.Free(handle);
                Interlocked.Increment(ref counters.Misses);
                return new ReadResult(ReadStatus.Miss, 0, 0, StorageTier.Nvme);
            }

            ref var entry = ref index[slot];
            if (entry.InHost)
            {
                // Another reader brought it in meanwhile: share that copy.
                allocator.Free(handle);
                entry.Leases++;
                offset = entry.HostOffset;
                length = (int)entry.ExtentLength;
                tableChecksum = entry.TableChecksum;
                promoted = false;
                sharedCopy = true;
            }
            else
            {
                entry.HostHandle = handle;
                entry.HostOffsetUnits = (uint)(offset / OffsetAllocator.Granularity);
                entry.Leases++;
                promoted = entry.Accesses >= options.PromoteAfterReads;
                if (!promoted)
                {
                    entry.Flags |= BlockEntry.TransientFlag;
                }

                Interlocked.Increment(ref counters.HostBlocks);
            }
        }

        Interlocked.Increment(ref counters.NvmeHits);
        if (promoted)
        {
            lock (policyGate)
            {
                hostPolicy.Insert(slot, id.Hash);
            }

            Interlocked.Increment(ref counters.Promotions);
            observer?.OnTierChanged(id, StorageTier.Host);
        }

        return Serve(slot, id, offset, length, tableChecksum, firstChunk, chunkCount, leaseTimeout, extents, StorageTier.Nvme, verifyChunks: sharedCopy); // our own copy was verified whole above
    }

    private bool RecordMoved(int slot, BlockId id, ulong location)
    {
        lock (index.LockFor(id))
        {
            return index.Find(id) != slot || index[slot].State != EntryState.Committed || index[slot].NvmeLocation != location;
        }
    }

    /// <summary>Takes one lease count off a block; the last one finishes a pending delete or frees a transient copy.</summary>
    private void DropLease(int slot, BlockId id)
    {
        ulong kill = 0;
        lock (index.LockFor(id))
        {
            if (index.Find(id) != slot)
            {
                return;
            }

            ref var entry = ref index[slot];
            entry.Leases--;
            if (entry.Leases > 0)
            {
                return;
            }

            if (entry.State == EntryState.Deleting && (entry.Flags & BlockEntry.DemotingFlag) == 0)
            {
                kill = RemoveLocked(id, slot);
            }
            else if ((entry.Flags & BlockEntry.TransientFlag) != 0)
            {
                FreeHostLocked(ref entry);
            }
        }

        if (kill != 0)
        {
            segments!.KillInPlace(kill);
        }
    }

    /// <summary>A checksum failed: the block leaves the node (at once, or when its other readers are done).</summary>
    private void DropCorrupt(int slot, BlockId id, ulong nvmeLocation = 0)
    {
        Interlocked.Increment(ref counters.CorruptReads);
        lock (index.LockFor(id))
        {
            if (index.Find(id) != slot || index[slot].State != EntryState.Committed)
            {
                return;
            }

            ref var entry = ref index[slot];
            if (nvmeLocation != 0 && entry.NvmeLocation != nvmeLocation)
            {
                return; // the record was replaced meanwhile
            }

            _ = RetireLocked(id, slot);
        }

        observer?.OnRemoved(id, RemovalReason.Corrupt);
    }

    /// <summary>
    /// Takes a committed block out of service: removed now, or hidden as deleting until its readers and its demotion
    /// are done. Returns the NVMe location to kill outside the lock (0 when none or deferred).
    /// </summary>
    private ulong RetireLocked(BlockId id, int slot)
    {
        lock (policyGate)
        {
            hostPolicy.Remove(slot);
        }

        ref var entry = ref index[slot];
        if (entry.Leases > 0 || (entry.Flags & BlockEntry.DemotingFlag) != 0)
        {
            entry.State = EntryState.Deleting;
            return 0;
        }

        return RemoveLocked(id, slot);
    }

    /// <summary>Frees everything a committed entry holds and removes it; returns its NVMe location (to kill outside the lock).</summary>
    private ulong RemoveLocked(BlockId id, int slot)
    {
        ref var entry = ref index[slot];
        if (entry.InHost)
        {
            FreeHostLocked(ref entry);
        }

        var location = entry.NvmeLocation;
        if (location != 0)
        {
            segments!.MarkDead(location, (int)entry.ExtentLength);
            Interlocked.Decrement(ref counters.NvmeBlocks);
            entry.NvmeLocation = 0;
        }

        index.Remove(id, slot);
        return location;
    }

    private void FreeHostLocked(ref BlockEntry entry)
    {
        allocator.Free(entry.HostHandle);
        entry.HostHandle = -1;
        entry.Flags &= unchecked((byte)~BlockEntry.TransientFlag);
        Interlocked.Decrement(ref counters.HostBlocks);
    }

    private void ReleaseReservedSlot(int slot, BlockId id)
    {
        lock (index.LockFor(id))
        {
            if (index.Find(id) != slot || index[slot].State != EntryState.Reserved)
            {
                return;
            }

            ref var entry = ref index[slot];
            allocator.Free(entry.HostHandle);
            entry.HostHandle = -1;
            index.Remove(id, slot);
        }
    }

    private void ExpireDue()
    {
        var expired = expiredScratch ??= [];
        var now = clock.GetTimestamp();
        reservations.TakeExpired(now, expired);
        foreach (var (slot, id) in expired)
        {
            ReleaseReservedSlot(slot, id);
            Interlocked.Increment(ref counters.ExpiredReservations);
        }

        expired.Clear();
        leases.TakeExpired(now, expired);
        foreach (var (slot, id) in expired)
        {
            DropLease(slot, id);
            Interlocked.Increment(ref counters.ExpiredLeases);
        }

        expired.Clear();
    }
}
