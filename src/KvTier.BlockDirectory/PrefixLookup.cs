using System.Collections.Immutable;

namespace KvTier.BlockDirectory;

/// <summary>The longest cached prefix of a chain.</summary>
/// <param name="Hits">The leading blocks present on live nodes, in chain order; the prefix length is its count.</param>
/// <param name="Degraded">True when the directory could not be asked (store unreachable), or, on a cluster, when a
/// shard holding a later span of the chain could not: the prefix found before that point stands, the rest is a miss,
/// not an error.</param>
/// <param name="ReadLeaseUntil">When a read lease was asked for and hits were found: until when the directory asks
/// nodes to keep these blocks (a hint; the node remains the truth).</param>
public sealed record PrefixLookup(ImmutableArray<BlockHit> Hits, bool Degraded = false, DateTimeOffset? ReadLeaseUntil = null)
{
    /// <summary>An empty result.</summary>
    public static PrefixLookup Miss { get; } = new(ImmutableArray<BlockHit>.Empty);

    /// <summary>The result given when the store could not be reached.</summary>
    public static PrefixLookup Unavailable { get; } = new(ImmutableArray<BlockHit>.Empty, Degraded: true);

    /// <summary>The count of leading chain keys present on live nodes.</summary>
    public int HitCount => Hits.Length;
}
