using System.Collections.Immutable;

namespace KvTier.BlockDirectory;

/// <summary>The order in which lookups report the copies of one block: host tier first, then by node id, so both
/// implementations give identical results.</summary>
internal static class LocationOrder
{
    public static ImmutableArray<BlockLocation> Sort(ImmutableArray<BlockLocation>.Builder locations)
    {
        locations.Sort(static (left, right) =>
        {
            var byTier = left.Tier.CompareTo(right.Tier);
            return byTier != 0 ? byTier : left.Node.Value.CompareTo(right.Node.Value);
        });
        return locations.DrainToImmutable();
    }
}
