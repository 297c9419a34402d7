using KvTier.Storage.Nvme;

namespace KvTier.Storage.Tests;

public sealed class NvmeTierTests
{
    private const int BlockBytes = 256 << 10;

    [Fact]
    public void An_evicted_block_that_was_read_is_demoted_and_reads_back_from_nvme()
    {
        using var directory = new TempDirectory();
        var observer = new RecordingObserver();
        using var store = StorageEngine.Open(WithLru(directory.Path), observer);
        var hot = TestBlocks.Id(1);
        var hotChunks = TestBlocks.Chunks(hot, 4, BlockBytes / 4);
        TestBlocks.Put(store, hot, hotChunks);
        TestBlocks.Get(store, hot);

        FillWithColdBlocks(store, 1000, 40);
        var (status, chunks) = TestBlocks.Get(store, hot);

        Assert.Equal(ReadStatus.Hit, status);
        TestBlocks.AssertSame(hotChunks, chunks);
        var stats = store.GetStats();
        Assert.True(stats.Demotions >= 1);
        Assert.True(stats.NvmeHits >= 1);
        Assert.Contains($"tier {hot} Nvme", observer.Events);
    }

    [Fact]
    public void A_block_never_read_is_not_admitted_to_nvme()
    {
        using var directory = new TempDirectory();
        var observer = new RecordingObserver();
        using var store = StorageEngine.Open(Engines.WithNvme(directory.Path), observer);

        FillWithColdBlocks(store, 1000, 40);

        Assert.Equal(0, store.GetStats().Demotions);
        Assert.True(store.GetStats().Evictions > 0);
        Assert.Equal(store.GetStats().Evictions, observer.Count("removed"));
    }

    [Fact]
    public void A_block_read_often_enough_on_nvme_is_promoted_back_to_the_host()
    {
        using var directory = new TempDirectory();
        var observer = new RecordingObserver();
        using var store = StorageEngine.Open(WithLru(directory.Path), observer);
        var hot = TestBlocks.Id(2);
        TestBlocks.Put(store, hot, TestBlocks.Chunks(hot, 1, BlockBytes));
        TestBlocks.Get(store, hot);
        FillWithColdBlocks(store, 1000, 40);

        TestBlocks.Get(store, hot);
        var stats = store.GetStats();

        Assert.Equal(1, stats.Promotions);
        Assert.Contains(store.EnumerateBlocks(), block => block.Id == hot && block.Tier == StorageTier.Host);
        Assert.Contains($"tier {hot} Host", observer.Events);
    }

    [Fact]
    public void A_restarted_engine_rebuilds_its_index_from_the_segments()
    {
        using var directory = new TempDirectory();
        var expected = new Dictionary<BlockId, byte[][]>();
        using (var store = StorageEngine.Open(AllAdmitted(directory.Path)))
        {
            for (ulong number = 0; number < 40; number++)
            {
                var id = TestBlocks.Id(number);
                expected[id] = TestBlocks.Chunks(id, 3, BlockBytes / 3);
                TestBlocks.Put(store, id, expected[id]);
            }
        }

        using var restarted = StorageEngine.Open(AllAdmitted(directory.Path));
        var held = restarted.EnumerateBlocks();

        Assert.True(held.Count >= 20, $"only {held.Count} blocks recovered");
        Assert.All(held, block => Assert.Equal(StorageTier.Nvme, block.Tier));
        foreach (var block in held)
        {
            var (status, chunks) = TestBlocks.Get(restarted, block.Id);
            Assert.Equal(ReadStatus.Hit, status);
            TestBlocks.AssertSame(expected[block.Id], chunks);
        }

        Assert.Equal(held.Count, restarted.GetStats().RecoveredBlocks);
        Assert.Equal(0, restarted.GetStats().CorruptRecordsSkipped);
    }

    [Fact]
    public void A_deleted_block_does_not_come_back_after_a_restart()
    {
        using var directory = new TempDirectory();
        BlockId victim;
        using (var store = StorageEngine.Open(AllAdmitted(directory.Path)))
        {
            FillWithColdBlocks(store, 0, 40);
            victim = store.EnumerateBlocks().First(block => block.Tier == StorageTier.Nvme).Id;
            Assert.True(store.Delete(victim));
        }

        using var restarted = StorageEngine.Open(AllAdmitted(directory.Path));

        Assert.False(restarted.Contains(victim));
        Assert.NotEmpty(restarted.EnumerateBlocks());
    }

    [Fact]
    public void A_truncated_segment_loses_only_the_cut_records()
    {
        using var directory = new TempDirectory();
        using (var store = StorageEngine.Open(AllAdmitted(directory.Path)))
        {
            FillWithColdBlocks(store, 0, 40);
        }

        var segment = Directory.GetFiles(directory.Path, "segment-*.kvs").Order(StringComparer.Ordinal).First();
        var before = CountRecovered(directory.Path);
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.SetLength(file.Length - 100_000);
        }

        using var restarted = StorageEngine.Open(AllAdmitted(directory.Path));
        var stats = restarted.GetStats();

        Assert.Equal(before - 1, stats.RecoveredBlocks);
        Assert.Equal(1, stats.TornRecordsSkipped);
        AssertEveryBlockReadsBackIntact(restarted);
    }

    [Fact]
    public void A_segment_overwritten_with_garbage_is_skipped_and_counted_never_served()
    {
        using var directory = new TempDirectory();
        using (var store = StorageEngine.Open(AllAdmitted(directory.Path)))
        {
            FillWithColdBlocks(store, 0, 40);
        }

        var before = CountRecovered(directory.Path);
        var segment = Directory.GetFiles(directory.Path, "segment-*.kvs").Order(StringComparer.Ordinal).First();
        var garbage = new byte[300_000];
        new Random(7).NextBytes(garbage);
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.Position = 4096 * 10;
            file.Write(garbage);
        }

        using var restarted = StorageEngine.Open(AllAdmitted(directory.Path));
        var stats = restarted.GetStats();

        Assert.True(stats.RecoveredBlocks < before);
        Assert.True(stats.CorruptRecordsSkipped > 0);
        AssertEveryBlockReadsBackIntact(restarted);
    }

    [Fact]
    public void A_record_corrupted_after_start_is_detected_on_read_and_dropped()
    {
        using var directory = new TempDirectory();
        var options = AllAdmitted(directory.Path);
        options.TryLockMemory = false;
        using var store = StorageEngine.Open(options);
        FillWithColdBlocks(store, 0, 40);
        var onNvme = store.EnumerateBlocks().Where(block => block.Tier == StorageTier.Nvme).ToList();
        foreach (var segment in Directory.GetFiles(directory.Path, "segment-*.kvs"))
        {
            var bytes = File.ReadAllBytes(segment);
            for (var offset = 8192; offset < bytes.Length; offset += 4096)
            {
                bytes[offset] ^= 0xFF;
            }

            File.WriteAllBytes(segment, bytes);
        }

        var corrupt = 0;
        foreach (var block in onNvme)
        {
            var (status, _) = TestBlocks.Get(store, block.Id);
            Assert.NotEqual(ReadStatus.Hit, status == ReadStatus.Hit ? ReadStatus.Hit : ReadStatus.Miss);
            corrupt += status == ReadStatus.Corrupt ? 1 : 0;
        }

        Assert.Equal(onNvme.Count, corrupt);
        Assert.Equal(corrupt, store.GetStats().CorruptReads);
    }

    [Fact]
    public void A_full_nvme_tier_cleans_segments_and_keeps_working()
    {
        using var directory = new TempDirectory();
        var options = AllAdmitted(directory.Path);
        options.NvmeCapacityBytes = 4 << 20;
        options.NvmeSegmentBytes = 1 << 20;
        options.MaxBlockBytes = 512 << 10;
        using var store = StorageEngine.Open(options);

        FillWithColdBlocks(store, 0, 120);

        var stats = store.GetStats();
        Assert.True(stats.SegmentsCleaned > 0);
        Assert.True(Directory.GetFiles(directory.Path, "segment-*.kvs").Length <= 4);
        Assert.True(stats.NvmeBytes <= 4 << 20);
        AssertEveryBlockReadsBackIntact(store);
    }

    [Fact]
    public void A_disk_that_refuses_writes_with_enospc_loses_those_demotions_and_the_engine_carries_on()
    {
        Assert.SkipUnless(File.Exists("/dev/full"), "/dev/full (a device whose writes fail with ENOSPC) is missing.");
        using var directory = new TempDirectory();
        using var store = StorageEngine.Open(AllAdmitted(directory.Path));
        // The first segment the engine creates is /dev/full: every write to it fails with ENOSPC, like a full disk.
        File.CreateSymbolicLink(Path.Combine(directory.Path, "segment-00000000.kvs"), "/dev/full");

        FillWithColdBlocks(store, 0, 40);

        var stats = store.GetStats();
        Assert.True(stats.NvmeWriteErrors >= 1);
        Assert.True(stats.Demotions > 0, "later demotions went to a fresh segment");
        AssertEveryBlockReadsBackIntact(store);
    }

    [Fact]
    public void A_tier_on_tmpfs_demotes_and_recovers_with_whatever_direct_io_it_offers()
    {
        // tmpfs refused O_DIRECT before Linux 6.6 and accepts it since; either way the tier must work. (The per-file
        // fallback when O_DIRECT is refused is exercised by the /dev/full test.)
        Assert.SkipUnless(Directory.Exists("/dev/shm"), "/dev/shm (tmpfs) is missing.");
        var path = Path.Combine("/dev/shm", "kvtier-storage-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var store = StorageEngine.Open(AllAdmitted(path)))
            {
                Assert.NotNull(store.NvmeDirectIo);
                FillWithColdBlocks(store, 0, 40);
                Assert.True(store.GetStats().Demotions > 0);
            }

            using var restarted = StorageEngine.Open(AllAdmitted(path));
            Assert.True(restarted.GetStats().RecoveredBlocks > 0);
            AssertEveryBlockReadsBackIntact(restarted);
        }
        finally
        {
            Directory.Delete(path, recursive: true);
        }
    }

    [Fact]
    public void The_segment_store_reports_a_refused_write_and_carries_on()
    {
        using var directory = new TempDirectory();
        using var store = new SegmentStore(directory.Path, 1 << 20, 2 << 20, 512 << 10, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var extent = new byte[500 << 10];

        var locations = Enumerable.Range(0, 6).Select(number => store.Append(TestBlocks.Id((ulong)number), extent, 0)).ToList();

        // Two segments of 1 MiB hold two 500 KiB records each; the fifth and sixth appends find no room.
        Assert.Equal(4, locations.Count(location => location != 0));
        Assert.Equal(0UL, locations[4]);
        Assert.False(store.HasFreeSegment);
    }

    /// <summary>LRU makes "this read block is evicted after N cold puts" certain; S3-FIFO would keep it in the host.</summary>
    private static StorageOptions WithLru(string directory)
    {
        var options = Engines.WithNvme(directory);
        options.HostEvictionPolicy = () => new Eviction.LruPolicy();
        return options;
    }

    internal static StorageOptions AllAdmitted(string directory)
    {
        var options = Engines.WithNvme(directory);
        options.Admission = DemotionAdmission.All;
        return options;
    }

    internal static void FillWithColdBlocks(IBlockStore store, ulong first, int count)
    {
        for (var number = first; number < first + (ulong)count; number++)
        {
            var id = TestBlocks.Id(number);
            TestBlocks.Put(store, id, TestBlocks.Chunks(id, 2, BlockBytes / 2));
        }
    }

    /// <summary>
    /// Every block the engine lists reads back with the bytes it was stored with. Reading NVMe blocks makes room in
    /// the arena, which can evict (and clean away) blocks listed earlier, so a miss is allowed; a wrong byte is not.
    /// </summary>
    internal static void AssertEveryBlockReadsBackIntact(IBlockStore store)
    {
        var hits = 0;
        foreach (var block in store.EnumerateBlocks())
        {
            var (status, chunks) = TestBlocks.Get(store, block.Id);
            Assert.True(status is ReadStatus.Hit or ReadStatus.Miss, $"{block.Id}: {status}");
            if (status == ReadStatus.Hit)
            {
                TestBlocks.AssertSame(TestBlocks.Chunks(block.Id, chunks.Length, chunks[0].Length), chunks);
                hits++;
            }
        }

        Assert.True(hits > 0, "no block read back");
    }

    internal static long CountRecovered(string directory)
    {
        using var store = StorageEngine.Open(AllAdmitted(directory));
        return store.GetStats().RecoveredBlocks;
    }
}
