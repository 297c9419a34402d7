using Microsoft.Extensions.Logging;

namespace KvTier.Storage;

/// <summary>Which evicted host blocks are written to NVMe.</summary>
public enum DemotionAdmission
{
    /// <summary>Blocks read at least once after they were stored (seen more than once): one-off blocks are dropped.</summary>
    SeenTwice,

    /// <summary>Every evicted block.</summary>
    All,

    /// <summary>None: the NVMe tier only holds what recovery found.</summary>
    None,
}

/// <summary>Configuration of the storage engine; defaults are the production values. Validated once at start.</summary>
public sealed class StorageOptions
{
    /// <summary>Host arena size in bytes (rounded up to 2 MiB).</summary>
    public long HostArenaBytes { get; set; } = 1L << 30;

    /// <summary>Try reserved hugetlb pages first (falls back to transparent huge pages, then 4 KiB pages).</summary>
    public bool TryHugeTlb { get; set; } = true;

    /// <summary>Try to mlock the arena (falls back with a warning when RLIMIT_MEMLOCK forbids it).</summary>
    public bool TryLockMemory { get; set; } = true;

    /// <summary>When set, the arena lives in a file in this directory (a memory file system: /dev/shm, or a volume of
    /// medium Memory) that clients on the same host map read-only and copy leased blocks from, with no network stack in
    /// between. Hugetlb pages are not used then (transparent huge pages are, where the file system allows them).</summary>
    public string? SharedMemoryDirectory { get; set; }

    /// <summary>Let the file's group write the shared arena file too (mode 0660 instead of 0640), so clients on the host
    /// fill their reservations through it.</summary>
    public bool SharedMemoryGroupWrites { get; set; }

    /// <summary>The node's name in the shared arena file's name (an earlier run's file of the same name is removed).</summary>
    public string SharedMemoryOwner { get; set; } = "node";

    /// <summary>This run of the engine: named in the shared arena file, so clients tell a restarted node's arena from
    /// the one they mapped before.</summary>
    public Guid InstanceId { get; set; } = Guid.NewGuid();

    /// <summary>Eviction starts when a new extent would push arena use above this share.</summary>
    public double HostHighWatermark { get; set; } = 0.95;

    /// <summary>Eviction frees down to this share.</summary>
    public double HostLowWatermark { get; set; } = 0.90;

    /// <summary>Largest block accepted (table plus chunks).</summary>
    public int MaxBlockBytes { get; set; } = 64 << 20;

    /// <summary>Blocks the index is sized for up front (0: arena size / 64 KiB).</summary>
    public int ExpectedBlocks { get; set; }

    /// <summary>Directory of the NVMe segment files; null for a host-only node.</summary>
    public string? NvmeDirectory { get; set; }

    /// <summary>Bytes the NVMe tier may use (whole segments).</summary>
    public long NvmeCapacityBytes { get; set; } = 16L << 30;

    /// <summary>Size of one segment file; must hold the largest block.</summary>
    public long NvmeSegmentBytes { get; set; } = 256L << 20;

    /// <summary>Which evicted blocks go to NVMe.</summary>
    public DemotionAdmission Admission { get; set; } = DemotionAdmission.SeenTwice;

    /// <summary>Reads a block needs in its life before an NVMe read keeps it in the arena (promotion).</summary>
    public int PromoteAfterReads { get; set; } = 2;

    /// <summary>Longest reservation a caller may ask for.</summary>
    public TimeSpan MaxReservationTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Longest lease a caller may ask for.</summary>
    public TimeSpan MaxLeaseTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often expiry runs on its own; zero leaves it to <see cref="IBlockStore.Maintain"/> callers.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The host tier's eviction policy.</summary>
    public Func<Eviction.IEvictionPolicy> HostEvictionPolicy { get; set; } = () => new Eviction.S3FifoPolicy();

    /// <summary>Clock for leases and reservations (tests substitute a manual one).</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Where fallbacks (huge pages, mlock, O_DIRECT) and faults are reported.</summary>
    public ILogger? Logger { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (HostArenaBytes < 2 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(HostArenaBytes), HostArenaBytes, "The host arena needs at least 2 MiB.");
        }

        if (HostLowWatermark is <= 0 or > 1 || HostHighWatermark is <= 0 or > 1 || HostLowWatermark > HostHighWatermark)
        {
            throw new ArgumentOutOfRangeException(nameof(HostLowWatermark), $"{HostLowWatermark}/{HostHighWatermark}", "Watermarks must satisfy 0 < low <= high <= 1.");
        }

        if (MaxBlockBytes < 128)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxBlockBytes), MaxBlockBytes, "Blocks of at least 128 bytes must be allowed.");
        }

        if (MaxReservationTimeout <= TimeSpan.Zero || MaxLeaseTimeout <= TimeSpan.Zero || MaintenanceInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLeaseTimeout), "Timeouts must be positive.");
        }

        if (PromoteAfterReads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(PromoteAfterReads), PromoteAfterReads, "Promotion needs at least one read.");
        }

        ArgumentNullException.ThrowIfNull(HostEvictionPolicy);
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }
}
