using System.Runtime.CompilerServices;

namespace KvTier.Storage.Indexing;

/// <summary>
/// Key to slot map with entries in fixed pages that never move, so a slot number is a stable handle for leases,
/// reservations and the eviction policy. The key space is split into shards, each an open-addressing table of slot
/// numbers (linear probing, backward-shift deletion, no tombstones) under its own short lock; callers do all their
/// I/O outside these locks. No GC object per block.
/// </summary>
internal sealed class BlockIndex
{
    private const int PageShift = 12;
    private const int PageSize = 1 << PageShift;

    private readonly Shard[] shards;
    private readonly int shardMask;
    private readonly Lock slotGate = new();
    private BlockEntry[]?[] pages;
    private int[] freeSlots = new int[64];
    private int freeSlotCount;
    private int slotHighWater;

    public BlockIndex(int expectedBlocks, int shardCount = 64)
    {
        if (shardCount <= 0 || (shardCount & (shardCount - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount, "The shard count must be a power of two.");
        }

        shards = new Shard[shardCount];
        shardMask = shardCount - 1;
        var perShard = Math.Max(16, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, expectedBlocks / shardCount * 4 / 3 + 1)));
        for (var index = 0; index < shardCount; index++)
        {
            shards[index] = new Shard(perShard);
        }

        pages = new BlockEntry[]?[Math.Max(4, (expectedBlocks + PageSize - 1) / PageSize)];
    }

    /// <summary>Blocks in the index (any state but free).</summary>
    public int Count
    {
        get
        {
            var total = 0;
            foreach (var shard in shards)
            {
                total += Volatile.Read(ref shard.Count);
            }

            return total;
        }
    }

    /// <summary>Slot numbers are below this.</summary>
    public int SlotLimit => Volatile.Read(ref slotHighWater);

    /// <summary>Bytes held by the index: entry pages, shard tables and the free-slot list.</summary>
    public long MemoryBytes
    {
        get
        {
            long total = (long)pages.Length * 8 + freeSlots.Length * 4L;
            foreach (var page in pages)
            {
                total += page is null ? 0 : (long)page.Length * Unsafe.SizeOf<BlockEntry>();
            }

            foreach (var shard in shards)
            {
                total += shard.Buckets.Length * 4L;
            }

            return total;
        }
    }

    /// <summary>The lock that guards every entry whose key hashes like <paramref name="id"/>.</summary>
    public Lock LockFor(in BlockId id) => shards[(int)(id.Hash >> 58) & shardMask].Gate;

    /// <summary>The entry in <paramref name="slot"/>; only touch it under <see cref="LockFor"/> of its key.</summary>
    public ref BlockEntry this[int slot] => ref pages[slot >> PageShift]![slot & (PageSize - 1)];

    /// <summary>The slot holding <paramref name="id"/>, or -1. Caller holds <see cref="LockFor"/>.</summary>
    public int Find(in BlockId id)
    {
        var shard = ShardOf(id);
        var buckets = shard.Buckets;
        var mask = buckets.Length - 1;
        for (var bucket = (int)id.Hash & mask; ; bucket = (bucket + 1) & mask)
        {
            var stored = buckets[bucket];
            if (stored == 0)
            {
                return -1;
            }

            if (this[stored - 1].Matches(id))
            {
                return stored - 1;
            }
        }
    }

    /// <summary>Adds <paramref name="id"/> (absent) in a fresh slot and returns it. Caller holds <see cref="LockFor"/>.</summary>
    public int Add(in BlockId id)
    {
        var shard = ShardOf(id);
        if ((shard.Count + 1) * 4 > shard.Buckets.Length * 3)
        {
            Grow(shard);
        }

        var slot = NewSlot();
        ref var entry = ref this[slot];
        entry = default;
        entry.KeyHigh = id.Key.High;
        entry.KeyLow = id.Key.Low;
        entry.Namespace = id.Namespace.Value;
        entry.HostHandle = -1;
        Place(shard.Buckets, slot, id.Hash);
        shard.Count++;
        return slot;
    }

    /// <summary>Removes <paramref name="id"/> held in <paramref name="slot"/>. Caller holds <see cref="LockFor"/>.</summary>
    public void Remove(in BlockId id, int slot)
    {
        var shard = ShardOf(id);
        var buckets = shard.Buckets;
        var mask = buckets.Length - 1;
        var hole = (int)id.Hash & mask;
        while (buckets[hole] != slot + 1)
        {
            hole = (hole + 1) & mask;
        }

        // Backward-shift deletion: pull later members of the probe run into the hole so lookups never need tombstones.
        for (var next = (hole + 1) & mask; buckets[next] != 0; next = (next + 1) & mask)
        {
            var home = (int)this[buckets[next] - 1].Id.Hash & mask;
            if (((next - home) & mask) >= ((next - hole) & mask))
            {
                buckets[hole] = buckets[next];
                hole = next;
            }
        }

        buckets[hole] = 0;
        shard.Count--;
        this[slot].State = EntryState.Free;
        lock (slotGate)
        {
            if (freeSlotCount == freeSlots.Length)
            {
                Array.Resize(ref freeSlots, freeSlots.Length * 2);
            }

            freeSlots[freeSlotCount++] = slot;
        }
    }

    /// <summary>Calls <paramref name="visit"/> for each committed entry, one shard lock at a time.</summary>
    public void ForEachCommitted<TVisitor>(ref TVisitor visit)
        where TVisitor : struct, IEntryVisitor
    {
        foreach (var shard in shards)
        {
            lock (shard.Gate)
            {
                foreach (var stored in shard.Buckets)
                {
                    if (stored != 0 && this[stored - 1].State == EntryState.Committed)
                    {
                        visit.Visit(stored - 1, ref this[stored - 1]);
                    }
                }
            }
        }
    }

    private Shard ShardOf(in BlockId id) => shards[(int)(id.Hash >> 58) & shardMask];

    private void Grow(Shard shard)
    {
        var old = shard.Buckets;
        var grown = new int[old.Length * 2];
        foreach (var stored in old)
        {
            if (stored != 0)
            {
                Place(grown, stored - 1, this[stored - 1].Id.Hash);
            }
        }

        shard.Buckets = grown;
    }

    private static void Place(int[] buckets, int slot, ulong hash)
    {
        var mask = buckets.Length - 1;
        var bucket = (int)hash & mask;
        while (buckets[bucket] != 0)
        {
            bucket = (bucket + 1) & mask;
        }

        buckets[bucket] = slot + 1;
    }

    private int NewSlot()
    {
        lock (slotGate)
        {
            if (freeSlotCount > 0)
            {
                return freeSlots[--freeSlotCount];
            }

            var slot = slotHighWater;
            var page = slot >> PageShift;
            if (page == pages.Length)
            {
                var grown = new BlockEntry[]?[pages.Length * 2];
                pages.CopyTo(grown, 0);
                Volatile.Write(ref pages, grown);
            }

            pages[page] ??= new BlockEntry[PageSize];
            Volatile.Write(ref slotHighWater, slot + 1);
            return slot;
        }
    }

    private sealed class Shard(int buckets)
    {
        public readonly Lock Gate = new();
        public int[] Buckets = new int[buckets];
        public int Count;
    }
}

/// <summary>Receives index entries from <see cref="BlockIndex.ForEachCommitted"/>.</summary>
internal interface IEntryVisitor
{
    void Visit(int slot, ref BlockEntry entry);
}
