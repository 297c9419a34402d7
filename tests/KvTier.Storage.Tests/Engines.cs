namespace KvTier.Storage.Tests;

/// <summary>Small engines for tests: no maintenance timer (tests drive expiry), a manual clock.</summary>
internal static class Engines
{
    public static StorageOptions HostOnly(long arenaBytes = 8 << 20, ManualClock? clock = null) => new()
    {
        HostArenaBytes = arenaBytes,
        MaintenanceInterval = TimeSpan.Zero,
        TimeProvider = clock ?? new ManualClock(),
        TryLockMemory = false,
        ExpectedBlocks = 1024,
    };

    public static StorageOptions WithNvme(string directory, long arenaBytes = 4 << 20, long nvmeBytes = 32 << 20, long segmentBytes = 4 << 20, ManualClock? clock = null)
    {
        var options = HostOnly(arenaBytes, clock);
        options.NvmeDirectory = directory;
        options.NvmeCapacityBytes = nvmeBytes;
        options.NvmeSegmentBytes = segmentBytes;
        options.MaxBlockBytes = 1 << 20;
        return options;
    }
}
