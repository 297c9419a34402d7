namespace KvTier.BlockDirectory;

/// <summary>Argument checks shared by both directory implementations, so they reject the same input the same way.</summary>
internal static class BatchValidation
{
    public static void CheckLength(int length, string parameterName)
    {
        if (length > IBlockDirectory.MaxBatchLength)
        {
            throw new ArgumentException(
                $"A batch of {length} keys exceeds the directory's limit of {IBlockDirectory.MaxBatchLength}.", parameterName);
        }
    }

    public static void CheckPublications(IReadOnlyList<BlockPublication> publications)
    {
        ArgumentNullException.ThrowIfNull(publications);
        CheckLength(publications.Count, nameof(publications));
        foreach (var publication in publications)
        {
            publication.Location.Validate();
            if (publication.TimeToLive is { } ttl && ttl <= TimeSpan.Zero)
            {
                throw new ArgumentException(
                    $"Publication of {publication.Key.Key} has time to live {ttl}; it must be positive or null.", nameof(publications));
            }
        }
    }

    public static void CheckHeartbeatTtl(TimeSpan heartbeatTtl)
    {
        if (heartbeatTtl < TimeSpan.FromMilliseconds(1) || heartbeatTtl > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(heartbeatTtl), heartbeatTtl, "A heartbeat TTL must lie between 1 ms and 1 day.");
        }
    }

    public static long LeaseMilliseconds(LookupOptions options)
    {
        if (options.ReadLease is not { } lease)
        {
            return 0;
        }

        if (lease <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), lease, "A read lease must be positive.");
        }

        return (long)Math.Ceiling(Math.Min(lease.TotalMilliseconds, LookupOptions.MaxReadLease.TotalMilliseconds));
    }

    public static long TtlMilliseconds(TimeSpan? ttl) => ttl is { } value ? Math.Max(1, (long)Math.Ceiling(value.TotalMilliseconds)) : 0;
}
