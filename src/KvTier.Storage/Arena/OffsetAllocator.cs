using System.Numerics;

namespace KvTier.Storage.Arena;

/// <summary>
/// A two-level segregated-fit allocator of offsets inside a fixed range (the host arena). Free extents sit in 256
/// size bins (a power of two split into 8 linear steps, so a bin overshoots by at most 12.5 %); two bitmaps find the
/// first non-empty bin that fits in O(1). Freed extents merge with free neighbours at once. All bookkeeping is in
/// struct arrays: no object per extent. Thread-safe; each call holds a short lock and does no I/O.
/// </summary>
internal sealed class OffsetAllocator
{
    /// <summary>Every extent is a multiple of this many bytes (and aligned to it).</summary>
    public const int Granularity = 256;

    private const int MantissaBits = 3;
    private const int LeafBins = 1 << MantissaBits;
    private const int TopBins = 32;
    private const int None = -1;

    private readonly Lock gate = new();
    private readonly int[] binHeads = new int[TopBins * LeafBins];
    private readonly byte[] leafMasks = new byte[TopBins];
    private uint topMask;
    private Node[] nodes;
    private int[] freeNodes;
    private int freeNodeCount;
    private int nodeHighWater;
    private long freeUnits;
    private int allocations;

    public OffsetAllocator(long capacityBytes, int expectedAllocations = 1024)
    {
        if (capacityBytes < Granularity || capacityBytes / Granularity > uint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes,
                $"The allocator manages between {Granularity} bytes and {(long)uint.MaxValue * Granularity} bytes.");
        }

        CapacityBytes = capacityBytes / Granularity * Granularity;
        Array.Fill(binHeads, None);
        nodes = new Node[Math.Max(16, expectedAllocations + 16)];
        freeNodes = new int[nodes.Length];
        var whole = NewNode();
        nodes[whole] = new Node { Offset = 0, Size = (uint)(CapacityBytes / Granularity), BinPrevious = None, BinNext = None, NeighborPrevious = None, NeighborNext = None };
        InsertIntoBin(whole);
        freeUnits = nodes[whole].Size;
    }

    /// <summary>Bytes under management.</summary>
    public long CapacityBytes { get; }

    /// <summary>Bytes not handed out.</summary>
    public long FreeBytes { get { lock (gate) { return freeUnits * Granularity; } } }

    /// <summary>Live allocations.</summary>
    public int AllocationCount { get { lock (gate) { return allocations; } } }

    /// <summary>Bytes of bookkeeping (node table and bins), for the memory-per-block figure.</summary>
    public long MetadataBytes { get { lock (gate) { return (long)nodes.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Node>() + freeNodes.Length * 4L + binHeads.Length * 4L; } } }

    /// <summary>The size every request of <paramref name="bytes"/> is rounded up to.</summary>
    public static long RoundUp(long bytes) => (bytes + Granularity - 1) / Granularity * Granularity;

    /// <summary>
    /// Hands out an extent of at least <paramref name="bytes"/>; returns a handle for <see cref="Free"/>, or -1 when
    /// no free extent is large enough (the caller evicts and retries).
    /// </summary>
    public int Allocate(long bytes, out long offset)
    {
        if (bytes <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "An allocation needs a positive size.");
        }

        offset = -1;
        var units = RoundUp(bytes) / Granularity;
        if (units > uint.MaxValue)
        {
            return None;
        }

        lock (gate)
        {
            var bin = FindNonEmptyBin(CeilingBin((uint)units));
            var index = bin == None ? SearchFloorBin((uint)units) : binHeads[bin];
            if (index == None)
            {
                return None;
            }

            RemoveFromBin(index);
            ref var node = ref nodes[index];
            if (node.Size > units)
            {
                var rest = NewNode();
                node = ref nodes[index]; // the node table may have grown
                nodes[rest] = new Node
                {
                    Offset = node.Offset + (uint)units,
                    Size = node.Size - (uint)units,
                    BinPrevious = None,
                    BinNext = None,
                    NeighborPrevious = index,
                    NeighborNext = node.NeighborNext,
                };
                if (node.NeighborNext != None)
                {
                    nodes[node.NeighborNext].NeighborPrevious = rest;
                }

                node.NeighborNext = rest;
                node.Size = (uint)units;
                InsertIntoBin(rest);
            }

            node.Used = true;
            freeUnits -= node.Size;
            allocations++;
            offset = (long)node.Offset * Granularity;
            return index;
        }
    }

    /// <summary>Returns an extent handed out by <see cref="Allocate"/>.</summary>
    public void Free(int handle)
    {
        lock (gate)
        {
            if ((uint)handle >= (uint)nodeHighWater || !nodes[handle].Used)
            {
                throw new InvalidOperationException($"Allocator handle {handle} is not a live allocation (double free?).");
            }

            ref var node = ref nodes[handle];
            node.Used = false;
            freeUnits += node.Size;
            allocations--;
            var previous = node.NeighborPrevious;
            if (previous != None && !nodes[previous].Used)
            {
                RemoveFromBin(previous);
                nodes[previous].Size += node.Size;
                Unlink(handle);
                handle = previous;
                node = ref nodes[handle];
            }

            var next = node.NeighborNext;
            if (next != None && !nodes[next].Used)
            {
                RemoveFromBin(next);
                node.Size += nodes[next].Size;
                Unlink(next);
            }

            InsertIntoBin(handle);
        }
    }

    /// <summary>The largest extent that could be allocated now (an allocation of this size succeeds).</summary>
    public long LargestFreeBytes()
    {
        lock (gate)
        {
            if (topMask == 0)
            {
                return 0;
            }

            var top = 31 - BitOperations.LeadingZeroCount(topMask);
            var bin = top * LeafBins + 7 - BitOperations.LeadingZeroCount((uint)leafMasks[top] << 24);
            uint largest = 0;
            for (var index = binHeads[bin]; index != None; index = nodes[index].BinNext)
            {
                largest = Math.Max(largest, nodes[index].Size);
            }

            return (long)largest * Granularity;
        }
    }

    /// <summary>1 - largest free extent / all free bytes: 0 when free space is one piece.</summary>
    public double Fragmentation()
    {
        var free = FreeBytes;
        return free == 0 ? 0 : 1.0 - (double)LargestFreeBytes() / free;
    }

    /// <summary>
    /// Last chance when no bin is sure to fit: the request's own bin may hold a node that is large enough (bins
    /// span 12.5 %). Looks at a bounded number of nodes, so the cost stays O(1); this is what lets the arena fill
    /// past the point where only in-between sizes are left.
    /// </summary>
    private int SearchFloorBin(uint units)
    {
        const int maxLooks = 32;
        var looks = 0;
        for (var index = binHeads[FloorBin(units)]; index != None && looks < maxLooks; index = nodes[index].BinNext, looks++)
        {
            if (nodes[index].Size >= units)
            {
                return index;
            }
        }

        return None;
    }

    private void Unlink(int index)
    {
        ref var node = ref nodes[index];
        if (node.NeighborPrevious != None)
        {
            nodes[node.NeighborPrevious].NeighborNext = node.NeighborNext;
        }

        if (node.NeighborNext != None)
        {
            nodes[node.NeighborNext].NeighborPrevious = node.NeighborPrevious;
        }

        freeNodes[freeNodeCount++] = index;
    }

    private int NewNode()
    {
        if (freeNodeCount > 0)
        {
            return freeNodes[--freeNodeCount];
        }

        if (nodeHighWater == nodes.Length)
        {
            Array.Resize(ref nodes, nodes.Length * 2);
            Array.Resize(ref freeNodes, nodes.Length);
        }

        return nodeHighWater++;
    }

    private void InsertIntoBin(int index)
    {
        ref var node = ref nodes[index];
        var bin = FloorBin(node.Size);
        node.BinPrevious = None;
        node.BinNext = binHeads[bin];
        if (node.BinNext != None)
        {
            nodes[node.BinNext].BinPrevious = index;
        }

        binHeads[bin] = index;
        leafMasks[bin / LeafBins] |= (byte)(1 << (bin % LeafBins));
        topMask |= 1u << (bin / LeafBins);
    }

    private void RemoveFromBin(int index)
    {
        ref var node = ref nodes[index];
        if (node.BinPrevious != None)
        {
            nodes[node.BinPrevious].BinNext = node.BinNext;
        }
        else
        {
            var bin = FloorBin(node.Size);
            binHeads[bin] = node.BinNext;
            if (node.BinNext == None)
            {
                leafMasks[bin / LeafBins] &= (byte)~(1 << (bin % LeafBins));
                if (leafMasks[bin / LeafBins] == 0)
                {
                    topMask &= ~(1u << (bin / LeafBins));
                }
            }
        }

        if (node.BinNext != None)
        {
            nodes[node.BinNext].BinPrevious = node.BinPrevious;
        }
    }

    private int FindNonEmptyBin(int bin)
    {
        if (bin >= TopBins * LeafBins)
        {
            return None;
        }

        var top = bin / LeafBins;
        var leaves = leafMasks[top] & (0xFF << (bin % LeafBins)) & 0xFF;
        if (leaves != 0)
        {
            return top * LeafBins + BitOperations.TrailingZeroCount(leaves);
        }

        var tops = top + 1 < TopBins ? topMask & (~0u << (top + 1)) : 0;
        if (tops == 0)
        {
            return None;
        }

        top = BitOperations.TrailingZeroCount(tops);
        return top * LeafBins + BitOperations.TrailingZeroCount((uint)leafMasks[top]);
    }

    /// <summary>The bin whose smallest size is at most <paramref name="units"/>: every node in it holds that many.</summary>
    internal static int FloorBin(uint units)
    {
        if (units < LeafBins)
        {
            return (int)units;
        }

        var exponent = 31 - BitOperations.LeadingZeroCount(units);
        var mantissa = (int)(units >> (exponent - MantissaBits)) & (LeafBins - 1);
        return ((exponent - MantissaBits + 1) * LeafBins) + mantissa;
    }

    /// <summary>The smallest bin all of whose nodes hold at least <paramref name="units"/>.</summary>
    internal static int CeilingBin(uint units)
    {
        var bin = FloorBin(units);
        return BinMinimum(bin) < units ? bin + 1 : bin;
    }

    internal static ulong BinMinimum(int bin)
    {
        if (bin < LeafBins)
        {
            return (ulong)bin;
        }

        var exponent = (bin / LeafBins) + MantissaBits - 1;
        var mantissa = (ulong)(bin % LeafBins);
        return (LeafBins + mantissa) << (exponent - MantissaBits);
    }

    private struct Node
    {
        public uint Offset;
        public uint Size;
        public int BinPrevious;
        public int BinNext;
        public int NeighborPrevious;
        public int NeighborNext;
        public bool Used;
    }
}
