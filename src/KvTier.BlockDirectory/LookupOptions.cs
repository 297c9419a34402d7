namespace KvTier.BlockDirectory;

/// <summary>Options of one prefix lookup.</summary>
/// <param name="ReadLease">When set, the hit blocks are marked as about to be read for this long (capped at
/// <see cref="MaxReadLease"/>); nodes consult <see cref="IBlockDirectory.GetReadLeasesAsync"/> before evicting.</param>
public readonly record struct LookupOptions(TimeSpan? ReadLease = null)
{
    /// <summary>The longest read lease granted.</summary>
    public static readonly TimeSpan MaxReadLease = TimeSpan.FromSeconds(30);
}
