using KvTier.Storage.Arena;
using KvTier.Storage.Eviction;
using KvTier.Storage.Indexing;
using KvTier.Storage.Nvme;
using Microsoft.Extensions.Logging;

namespace KvTier.Storage;

/// <summary>Tier movement: host eviction and demotion, NVMe segment cleaning, and recovery at start.</summary>
public sealed partial class StorageEngine
{
    /// <summary>Allocates a host extent, evicting down to the low watermark when the high one would be crossed.</summary>
    private int AllocateHost(long length, out long offset)
    {
        var capacity = allocator.CapacityBytes;
        var rounded = OffsetAllocator.RoundUp(length);
        if (capacity - allocator.FreeBytes + rounded > options.HostHighWatermark * capacity)
        {
            EvictHostDownTo((long)(options.HostLowWatermark * capacity) - rounded);
        }

        for (var attempts = 0; ; attempts++)
        {
            var handle = allocator.Allocate(length, out offset);
            if (handle >= 0)
            {
                return handle;
            }

            // Free bytes exist but not in one piece, or nothing was evictable above: evict more.
            int tracked;
            lock (policyGate)
            {
                tracked = hostPolicy.Count;
            }

            if (attempts > (2 * tracked) + 16 || !EvictOne())
            {
                offset = -1;
                return -1;
            }
        }
    }

    private void EvictHostDownTo(long targetUsed)
    {
        var guard = 0;
        while (allocator.CapacityBytes - allocator.FreeBytes > targetUsed && guard++ < 1_000_000 && EvictOne())
        {
        }
    }

    /// <summary>Takes one victim out of the host tier (demoting it if admitted); false when nothing may be evicted.</summary>
    private bool EvictOne()
    {
        var filter = new HostVictimFilter(index);
        int slot;
        lock (policyGate)
        {
            if (!hostPolicy.TryEvict(ref filter, out slot))
            {
                Interlocked.Add(ref counters.LeaseWaits, filter.Refused);
                return false;
            }
        }

        Interlocked.Add(ref counters.LeaseWaits, filter.Refused);

        // The key is read without the lock and confirmed under it: a torn read just fails the check.
        var id = index[slot].Id;
        var gate = index.LockFor(id);
        long offset = 0;
        var length = 0;
        uint tableChecksum = 0;
        var cleanCopyDropped = false;
        var droppedFromNode = false;
        lock (gate)
        {
            if (index.Find(id) != slot)
            {
                return true;
            }

            ref var entry = ref index[slot];
            if (entry.State != EntryState.Committed || !entry.InHost || entry.Leases > 0
                || (entry.Flags & (BlockEntry.DemotingFlag | BlockEntry.TransientFlag)) != 0)
            {
                if (entry.State == EntryState.Committed && entry.InHost && (entry.Flags & BlockEntry.TransientFlag) == 0)
                {
                    Interlocked.Increment(ref counters.LeaseWaits);
                    lock (policyGate)
                    {
                        if (!hostPolicy.Contains(slot))
                        {
                            hostPolicy.Insert(slot, id.Hash);
                        }
                    }
                }

                return true;
            }

            Interlocked.Increment(ref counters.HostEvictions);
            if (entry.OnNvme)
            {
                FreeHostLocked(ref entry); // a clean copy: NVMe already has the bytes
                cleanCopyDropped = true;
            }
            else if (segments is null || !Admitted(entry))
            {
                _ = RemoveLocked(id, slot);
                Interlocked.Increment(ref counters.Evictions);
                droppedFromNode = true;
            }
            else
            {
                entry.Flags |= BlockEntry.DemotingFlag;
                offset = entry.HostOffset;
                length = (int)entry.ExtentLength;
                tableChecksum = entry.TableChecksum;
            }
        }

        // Observers hear about it outside the lock.
        if (cleanCopyDropped)
        {
            observer?.OnTierChanged(id, StorageTier.Nvme);
            return true;
        }

        if (droppedFromNode)
        {
            observer?.OnRemoved(id, RemovalReason.Evicted);
            return true;
        }

        var location = AppendWithCleaning(id, arena.Slice(offset, length), tableChecksum);
        ulong kill = 0;
        var outcome = RemovalReason.Evicted;
        var demoted = false;
        var removed = false;
        lock (gate)
        {
            ref var entry = ref index[slot];
            entry.Flags &= unchecked((byte)~BlockEntry.DemotingFlag);
            if (entry.State == EntryState.Deleting)
            {
                kill = location;
                if (entry.Leases == 0)
                {
                    _ = RemoveLocked(id, slot);
                }

                outcome = RemovalReason.Deleted;
            }
            else if (location == 0)
            {
                if (entry.Leases == 0)
                {
                    _ = RemoveLocked(id, slot);
                    Interlocked.Increment(ref counters.Evictions);
                    removed = true;
                }
            }
            else
            {
                entry.NvmeLocation = location;
                Interlocked.Increment(ref counters.NvmeBlocks);
                Interlocked.Increment(ref counters.Demotions);
                if (entry.Leases == 0)
                {
                    FreeHostLocked(ref entry);
                    demoted = true;
                }
            }

            if (entry.State == EntryState.Committed && entry.InHost && !demoted)
            {
                // Still leased: it stays a (now clean) host block that the next eviction can drop for free.
                lock (policyGate)
                {
                    hostPolicy.Insert(slot, id.Hash);
                }
            }
        }

        if (kill != 0)
        {
            segments!.KillInPlace(kill);
            segments.MarkDead(kill, length);
        }

        if (demoted)
        {
            observer?.OnTierChanged(id, StorageTier.Nvme);
        }
        else if (removed)
        {
            observer?.OnRemoved(id, outcome);
        }

        return true;
    }

    private bool Admitted(in BlockEntry entry) => options.Admission switch
    {
        DemotionAdmission.All => true,
        DemotionAdmission.SeenTwice => entry.Accesses > 0,
        _ => false,
    };

    /// <summary>Appends a record, cleaning one segment first when the tier is full.</summary>
    private ulong AppendWithCleaning(BlockId id, ReadOnlySpan<byte> extent, uint tableChecksum)
    {
        var location = segments!.Append(id, extent, tableChecksum);
        if (location == 0 && !segments.HasFreeSegment)
        {
            CleanOneSegment();
            location = segments.Append(id, extent, tableChecksum);
        }

        return location;
    }

    /// <summary>
    /// Reclaims the segment with the fewest live bytes. Live records of blocks read often enough to be promoted are
    /// moved to the head of the log (second chance); the others leave the NVMe tier, which makes the log a FIFO
    /// with reinsertion for hot records, the NVMe side of S3-FIFO.
    /// </summary>
    private void CleanOneSegment()
    {
        lock (cleaningGate)
        {
            if (segments!.HasFreeSegment)
            {
                return; // someone else cleaned while we waited
            }

            var victim = segments.CleaningCandidate();
            if (victim < 0)
            {
                return;
            }

            var removedIds = new List<BlockId>();
            segments.Scan(victim, (in RecordHeader header, ulong location, ReadOnlySpan<byte> extent) =>
            {
                var id = header.Id;
                var gate = index.LockFor(id);
                bool relocate;
                int slot;
                lock (gate)
                {
                    slot = index.Find(id);
                    if (slot < 0 || index[slot].NvmeLocation != location || index[slot].State != EntryState.Committed)
                    {
                        return;
                    }

                    ref var entry = ref index[slot];
                    relocate = !entry.InHost && entry.Accesses >= options.PromoteAfterReads;
                    if (!relocate)
                    {
                        if (entry.InHost)
                        {
                            // The host copy stays, and becomes the only one: track it like any host block.
                            entry.NvmeLocation = 0;
                            Interlocked.Decrement(ref counters.NvmeBlocks);
                            if ((entry.Flags & BlockEntry.TransientFlag) != 0)
                            {
                                entry.Flags &= unchecked((byte)~BlockEntry.TransientFlag);
                                lock (policyGate)
                                {
                                    hostPolicy.Insert(slot, id.Hash);
                                }
                            }
                        }
                        else if (entry.Leases == 0 && (entry.Flags & BlockEntry.DemotingFlag) == 0)
                        {
                            _ = RemoveLocked(id, slot);
                            Interlocked.Increment(ref counters.Evictions);
                            removedIds.Add(id);
                        }

                        return;
                    }
                }

                var moved = segments.Append(id, extent, header.TableChecksum);
                lock (gate)
                {
                    var current = index.Find(id);
                    if (moved != 0 && current == slot && index[slot].NvmeLocation == location)
                    {
                        index[slot].NvmeLocation = moved;
                        return;
                    }

                    if (moved == 0 && current == slot && index[slot].NvmeLocation == location && !index[slot].InHost && index[slot].Leases == 0)
                    {
                        _ = RemoveLocked(id, slot);
                        Interlocked.Increment(ref counters.Evictions);
                        removedIds.Add(id);
                    }
                }

                if (moved != 0)
                {
                    // The block changed while we copied it: the copy must not come back after a restart.
                    segments.MarkDead(moved, extent.Length);
                    segments.KillInPlace(moved);
                }
            });

            segments.Delete(victim);
            Interlocked.Increment(ref counters.SegmentsCleaned);
            foreach (var id in removedIds)
            {
                observer?.OnRemoved(id, RemovalReason.Evicted);
            }
        }
    }

    /// <summary>Rebuilds the index from every segment: newest record of a block wins; bad records are counted.</summary>
    private void Recover()
    {
        var ids = segments!.OpenExisting();
        if (ids.Count == 0)
        {
            return;
        }

        var sequences = new Dictionary<int, ulong>();
        foreach (var segmentId in ids)
        {
            var counts = segments.Scan(segmentId, (in RecordHeader header, ulong location, ReadOnlySpan<byte> extent) =>
            {
                segments.ObserveSequence(header.Sequence);
                var id = header.Id;
                lock (index.LockFor(id))
                {
                    var slot = index.Find(id);
                    if (slot >= 0)
                    {
                        if (sequences[slot] >= header.Sequence)
                        {
                            return;
                        }

                        segments.MarkDead(index[slot].NvmeLocation, (int)index[slot].ExtentLength);
                    }
                    else
                    {
                        slot = index.Add(id);
                        Interlocked.Increment(ref counters.NvmeBlocks);
                    }

                    ref var entry = ref index[slot];
                    entry.State = EntryState.Committed;
                    entry.NvmeLocation = location;
                    entry.ExtentLength = (uint)extent.Length;
                    entry.TableChecksum = header.TableChecksum;
                    sequences[slot] = header.Sequence;
                    segments.AddLive(location, extent.Length);
                }
            });
            counters.CorruptRecords += counts.Corrupt;
            counters.TornRecords += counts.Torn;
        }

        counters.RecoveredBlocks = sequences.Count;
        logger.LogInformation("Recovered {Blocks} blocks from {Segments} NVMe segments; skipped {Corrupt} corrupt and {Torn} torn records.",
            sequences.Count, ids.Count, counters.CorruptRecords, counters.TornRecords);
    }

    /// <summary>Refuses leased, reserved, transient and demoting entries (read without the lock; re-checked under it).</summary>
    private struct HostVictimFilter(BlockIndex index) : IVictimFilter
    {
        public long Refused;

        public bool CanEvict(int item)
        {
            ref var entry = ref index[item];
            if (entry.Leases == 0 && entry.State == EntryState.Committed && (entry.Flags & BlockEntry.DemotingFlag) == 0)
            {
                return true;
            }

            Refused++;
            return false;
        }
    }
}
