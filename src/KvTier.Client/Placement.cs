using System.Buffers.Binary;
using System.IO.Hashing;
using KvTier.BlockDirectory;
using KvTier.Core;

namespace KvTier.Client;

/// <summary>
/// Weighted rendezvous hashing: each (block, node) pair gets a score <c>weight / -ln(u)</c> with <c>u</c> a uniform
/// hash in (0, 1); a block goes to its highest-scoring nodes. A node gets blocks in proportion to its weight, and
/// adding or removing a node only moves the blocks whose top choice it is.
/// The weight is the node's free bytes, but never less than <see cref="CapacityFloor"/> of its capacity: an empty
/// (new) node draws up to four times its share until it fills, while full nodes, whose free bytes swing between the
/// eviction watermarks with every eviction batch, are weighted by capacity alone. Weighing full nodes by raw free
/// bytes piled new blocks onto whichever node evicted last and cost up to 4.3 points of hit ratio on 4 nodes
/// (perf/RESULTS.md, prefill savings).
/// </summary>
internal static class Placement
{
    /// <summary>Share of a node's capacity below which its free bytes no longer lower its weight.</summary>
    public const double CapacityFloor = 0.25;

    /// <summary>Every node, best first, for <paramref name="key"/>.</summary>
    public static NodeInfo[] Rank(BlockKey key, IReadOnlyList<NodeInfo> nodes)
    {
        Span<byte> input = stackalloc byte[BlockKey.Size + 8];
        key.WriteTo(input);
        var scored = new (double Score, NodeInfo Node)[nodes.Count];
        for (var i = 0; i < nodes.Count; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(input[BlockKey.Size..], nodes[i].Id.Value);
            var hash = XxHash3.HashToUInt64(input);
            var uniform = ((hash >> 11) + 0.5) / (1UL << 53);
            var weight = Math.Max(1.0, Math.Max(nodes[i].FreeBytes, nodes[i].CapacityBytes * CapacityFloor));
            scored[i] = (weight / -Math.Log(uniform), nodes[i]);
        }

        Array.Sort(scored, (a, b) => b.Score.CompareTo(a.Score));
        return [.. scored.Select(s => s.Node)];
    }
}
