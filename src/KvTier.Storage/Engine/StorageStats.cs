namespace KvTier.Storage;

/// <summary>A snapshot of the engine's counters (monotonic since start unless named as a current value).</summary>
public sealed record StorageStats
{
    /// <summary>Blocks with bytes in the host arena now.</summary>
    public long HostBlocks { get; init; }

    /// <summary>Arena bytes allocated now (blocks and reservations).</summary>
    public long HostBytes { get; init; }

    /// <summary>Arena size.</summary>
    public long HostCapacityBytes { get; init; }

    /// <summary>Committed blocks in the index now (any tier).</summary>
    public long Blocks { get; init; }

    /// <summary>Blocks with a live NVMe record now.</summary>
    public long NvmeBlocks { get; init; }

    /// <summary>Live NVMe record bytes now.</summary>
    public long NvmeBytes { get; init; }

    /// <summary>NVMe tier size.</summary>
    public long NvmeCapacityBytes { get; init; }

    /// <summary>Reads served from the arena without I/O.</summary>
    public long HostHits { get; init; }

    /// <summary>Reads that had to read NVMe.</summary>
    public long NvmeHits { get; init; }

    /// <summary>Reads of blocks not stored.</summary>
    public long Misses { get; init; }

    /// <summary>Blocks that left the arena for room (demoted or dropped).</summary>
    public long HostEvictions { get; init; }

    /// <summary>Blocks that left the node for room.</summary>
    public long Evictions { get; init; }

    /// <summary>Blocks written to NVMe on eviction.</summary>
    public long Demotions { get; init; }

    /// <summary>NVMe blocks kept in the arena after a read because they were hot.</summary>
    public long Promotions { get; init; }

    /// <summary>Eviction candidates passed over because a reader held a lease.</summary>
    public long LeaseWaits { get; init; }

    /// <summary>Leases live now.</summary>
    public long ActiveLeases { get; init; }

    /// <summary>Reservations live now (reserved, neither committed, aborted nor expired yet).</summary>
    public long ActiveReservations { get; init; }

    /// <summary>Leases that ran out before release.</summary>
    public long ExpiredLeases { get; init; }

    /// <summary>Reservations reclaimed uncommitted.</summary>
    public long ExpiredReservations { get; init; }

    /// <summary>Commits refused for a checksum mismatch.</summary>
    public long RejectedCommits { get; init; }

    /// <summary>Reads that found bad bytes (block dropped, never served).</summary>
    public long CorruptReads { get; init; }

    /// <summary>1 - largest free extent / free bytes in the arena.</summary>
    public double AllocatorFragmentation { get; init; }

    /// <summary>Blocks rebuilt from NVMe segments at start.</summary>
    public long RecoveredBlocks { get; init; }

    /// <summary>Records skipped at start because a checksum failed.</summary>
    public long CorruptRecordsSkipped { get; init; }

    /// <summary>Records skipped at start because they were cut short.</summary>
    public long TornRecordsSkipped { get; init; }

    /// <summary>NVMe segments cleaned and deleted.</summary>
    public long SegmentsCleaned { get; init; }

    /// <summary>NVMe writes the file system refused (e.g. ENOSPC).</summary>
    public long NvmeWriteErrors { get; init; }

    /// <summary>Bytes of index memory now.</summary>
    public long IndexBytes { get; init; }
}
