namespace KvTier.Storage.Tests;

public sealed class HostTierTests
{
    [Fact]
    public void A_committed_block_reads_back_byte_for_byte()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(1);
        var chunks = TestBlocks.Chunks(id, 4, 1000);

        var (reserve, commit) = TestBlocks.Put(store, id, chunks);
        var (status, read) = TestBlocks.Get(store, id);

        Assert.Equal(ReserveStatus.Reserved, reserve);
        Assert.Equal(CommitStatus.Committed, commit.Status);
        Assert.Equal(ReadStatus.Hit, status);
        TestBlocks.AssertSame(chunks, read);
    }

    [Fact]
    public void A_read_of_a_layer_range_hands_out_only_those_chunks()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(2);
        var chunks = TestBlocks.Chunks(id, 10, 300);
        TestBlocks.Put(store, id, chunks);

        var (status, read) = TestBlocks.Get(store, id, firstChunk: 3, chunkCount: 4);

        Assert.Equal(ReadStatus.Hit, status);
        TestBlocks.AssertSame(chunks[3..7], read);
    }

    [Fact]
    public void A_chunk_range_past_the_end_is_refused_and_leaves_no_lease()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(3);
        TestBlocks.Put(store, id, TestBlocks.Chunks(id, 2, 100));

        var result = store.Read(id, 1, 5, TimeSpan.FromSeconds(1), new ChunkExtent[8]);

        Assert.Equal(ReadStatus.InvalidRange, result.Status);
        Assert.Equal(2, result.ChunkCount);
        Assert.Equal(0, store.GetStats().ActiveLeases);
    }

    [Fact]
    public void Copy_out_writes_the_requested_chunks_back_to_back_and_leaves_no_lease()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(30);
        var chunks = TestBlocks.Chunks(id, 5, 700);
        TestBlocks.Put(store, id, chunks);
        var destination = new byte[10_000];

        var result = store.CopyOut(id, 1, 3, destination, out var written);

        Assert.Equal(ReadStatus.Hit, result.Status);
        Assert.Equal(chunks[1..4].Sum(chunk => chunk.Length), written);
        Assert.True(destination.AsSpan(0, written).SequenceEqual(chunks[1..4].SelectMany(chunk => chunk).ToArray()));
        Assert.Equal(0, store.GetStats().ActiveLeases);
    }

    [Fact]
    public void Copy_out_of_corrupted_bytes_reports_corrupt_and_drops_the_block()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(31);
        TestBlocks.Put(store, id, TestBlocks.Chunks(id, 2, 700));
        var extents = new ChunkExtent[2];
        store.ReleaseLease(store.Read(id, 0, -1, TimeSpan.FromSeconds(5), extents).LeaseId);
        unsafe
        {
            ((byte*)store.ArenaAddress)[extents[1].ArenaOffset + 100] ^= 1;
        }

        var result = store.CopyOut(id, 0, -1, new byte[4096], out var written);

        Assert.Equal(ReadStatus.Corrupt, result.Status);
        Assert.Equal(0, written);
        Assert.False(store.Contains(id));
        Assert.Equal(0, store.GetStats().ActiveLeases);
    }

    [Fact]
    public void A_second_put_of_a_present_block_is_a_no_op()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(4);
        var chunks = TestBlocks.Chunks(id, 2, 100);
        TestBlocks.Put(store, id, chunks);

        var again = store.Reserve(id, TestBlocks.Describe(chunks), TimeSpan.FromSeconds(1));

        Assert.Equal(ReserveStatus.AlreadyPresent, again.Status);
        Assert.Equal(1, store.GetStats().Blocks);
    }

    [Fact]
    public void A_put_while_another_reservation_is_open_is_busy()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(5);
        var infos = TestBlocks.Describe(TestBlocks.Chunks(id, 1, 100));
        var first = store.Reserve(id, infos, TimeSpan.FromSeconds(5));

        var second = store.Reserve(id, infos, TimeSpan.FromSeconds(5));

        Assert.Equal(ReserveStatus.Reserved, first.Status);
        Assert.Equal(ReserveStatus.Busy, second.Status);
    }

    [Fact]
    public void An_uncommitted_block_is_invisible()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(6);
        store.Reserve(id, TestBlocks.Describe(TestBlocks.Chunks(id, 1, 100)), TimeSpan.FromSeconds(5));

        Assert.False(store.Contains(id));
        Assert.Equal(ReadStatus.Miss, TestBlocks.Get(store, id).Status);
    }

    [Fact]
    public void A_commit_with_a_wrong_chunk_is_refused_and_nothing_is_stored()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(7);
        var chunks = TestBlocks.Chunks(id, 3, 500);
        var reservation = store.Reserve(id, TestBlocks.Describe(chunks), TimeSpan.FromSeconds(5));
        var destination = store.ReservedBytes(reservation);
        chunks[0].CopyTo(destination);
        chunks[1].CopyTo(destination[chunks[0].Length..]);
        // chunk 2 is never written: its bytes are whatever the arena held.

        var result = store.Commit(reservation);

        Assert.Equal(CommitStatus.ChecksumMismatch, result.Status);
        Assert.Equal(2, result.BadChunk);
        Assert.False(store.Contains(id));
        Assert.Equal(0, store.GetStats().HostBytes);
        Assert.Equal(1, store.GetStats().RejectedCommits);
    }

    [Fact]
    public void A_zero_length_chunk_is_a_clear_error()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => store.Reserve(TestBlocks.Id(8), [new ChunkInfo(10, 0), new ChunkInfo(0, 0)], TimeSpan.FromSeconds(1)));

        Assert.Contains("Chunk 1 has length 0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_with_no_chunks_is_a_clear_error()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => store.Reserve(TestBlocks.Id(9), [], TimeSpan.FromSeconds(1)));

        Assert.Contains("1 to 1024 chunks", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_block_larger_than_the_arena_is_a_clear_error()
    {
        var options = Engines.HostOnly(arenaBytes: 4 << 20);
        options.MaxBlockBytes = 64 << 20;
        using var store = StorageEngine.Open(options);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => store.Reserve(TestBlocks.Id(10), [new ChunkInfo(5 << 20, 0)], TimeSpan.FromSeconds(1)));

        Assert.Contains("cannot fit the 4194304-byte host arena", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reservation_not_committed_in_time_is_reclaimed()
    {
        var clock = new ManualClock();
        using var store = StorageEngine.Open(Engines.HostOnly(clock: clock));
        var id = TestBlocks.Id(11);
        var chunks = TestBlocks.Chunks(id, 1, 1000);
        var reservation = store.Reserve(id, TestBlocks.Describe(chunks), TimeSpan.FromSeconds(2));
        chunks[0].CopyTo(store.ReservedBytes(reservation));

        clock.Advance(TimeSpan.FromSeconds(3));
        store.Maintain();

        Assert.Equal(CommitStatus.UnknownReservation, store.Commit(reservation).Status);
        Assert.Equal(0, store.GetStats().HostBytes);
        Assert.Equal(1, store.GetStats().ExpiredReservations);
        Assert.Equal(ReserveStatus.Reserved, TestBlocks.Put(store, id, chunks).Reserve);
    }

    [Fact]
    public void An_aborted_reservation_frees_its_extent()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(12);
        var reservation = store.Reserve(id, TestBlocks.Describe(TestBlocks.Chunks(id, 1, 1000)), TimeSpan.FromSeconds(2));

        Assert.True(store.Abort(reservation));
        Assert.False(store.Abort(reservation));
        Assert.Equal(0, store.GetStats().HostBytes);
    }

    [Fact]
    public void Bytes_corrupted_in_the_arena_are_never_served()
    {
        var observer = new RecordingObserver();
        using var store = StorageEngine.Open(Engines.HostOnly(), observer);
        var id = TestBlocks.Id(13);
        TestBlocks.Put(store, id, TestBlocks.Chunks(id, 3, 400));
        var extents = new ChunkExtent[3];
        var result = store.Read(id, 0, -1, TimeSpan.FromSeconds(5), extents);
        store.ReleaseLease(result.LeaseId);
        unsafe
        {
            ((byte*)store.ArenaAddress)[extents[1].ArenaOffset + 7] ^= 0x40;
        }

        var (status, chunks) = TestBlocks.Get(store, id, 1, 1);

        Assert.Equal(ReadStatus.Corrupt, status);
        Assert.Empty(chunks);
        Assert.False(store.Contains(id));
        Assert.Equal(1, observer.Count("removed"));
        Assert.Equal(1, store.GetStats().CorruptReads);
    }

    [Fact]
    public void A_leased_block_is_not_evicted_until_its_lease_ends()
    {
        // LRU makes "evicted soon after the lease ends" certain; S3-FIFO would protect the block because it was read.
        var options = Engines.HostOnly(arenaBytes: 2 << 20);
        options.HostEvictionPolicy = () => new Eviction.LruPolicy();
        using var store = StorageEngine.Open(options);
        var pinned = TestBlocks.Id(100);
        var pinnedChunks = TestBlocks.Chunks(pinned, 1, 200_000);
        TestBlocks.Put(store, pinned, pinnedChunks);
        var extents = new ChunkExtent[1];
        var lease = store.Read(pinned, 0, -1, TimeSpan.FromSeconds(60), extents);

        for (ulong number = 200; number < 240; number++)
        {
            TestBlocks.Put(store, TestBlocks.Id(number), TestBlocks.Chunks(TestBlocks.Id(number), 1, 200_000));
        }

        Assert.True(store.Contains(pinned));
        Assert.True(store.GetStats().HostEvictions > 20);
        Assert.True(store.ExtentBytes(extents[0]).SequenceEqual(pinnedChunks[0]));
        Assert.True(store.ReleaseLease(lease.LeaseId));
        for (ulong number = 300; number < 340; number++)
        {
            TestBlocks.Put(store, TestBlocks.Id(number), TestBlocks.Chunks(TestBlocks.Id(number), 1, 200_000));
        }

        Assert.False(store.Contains(pinned));
    }

    [Fact]
    public void A_lease_ends_at_its_timeout_and_its_block_becomes_evictable()
    {
        var clock = new ManualClock();
        var options = Engines.HostOnly(arenaBytes: 2 << 20, clock: clock);
        options.HostEvictionPolicy = () => new Eviction.LruPolicy();
        using var store = StorageEngine.Open(options);
        var pinned = TestBlocks.Id(400);
        TestBlocks.Put(store, pinned, TestBlocks.Chunks(pinned, 1, 200_000));
        var lease = store.Read(pinned, 0, -1, TimeSpan.FromSeconds(5), new ChunkExtent[1]);

        clock.Advance(TimeSpan.FromSeconds(6));
        store.Maintain();
        for (ulong number = 500; number < 560; number++)
        {
            TestBlocks.Put(store, TestBlocks.Id(number), TestBlocks.Chunks(TestBlocks.Id(number), 1, 200_000));
        }

        Assert.False(store.ReleaseLease(lease.LeaseId));
        Assert.Equal(1, store.GetStats().ExpiredLeases);
        Assert.False(store.Contains(pinned));
    }

    [Fact]
    public void When_everything_is_leased_a_put_gets_no_space_instead_of_evicting()
    {
        using var store = StorageEngine.Open(Engines.HostOnly(arenaBytes: 2 << 20));
        var leased = new List<ulong>();
        var number = 600UL;
        ReserveStatus status;
        do
        {
            var id = TestBlocks.Id(number++);
            status = TestBlocks.Put(store, id, TestBlocks.Chunks(id, 1, 300_000)).Reserve;
            if (status == ReserveStatus.Reserved)
            {
                leased.Add(store.Read(id, 0, -1, TimeSpan.FromSeconds(60), new ChunkExtent[1]).LeaseId);
            }
        }
        while (status == ReserveStatus.Reserved && number < 700);

        Assert.Equal(ReserveStatus.NoSpace, status);
        Assert.True(leased.Count >= 5);
        Assert.True(store.GetStats().LeaseWaits > 0);
        Assert.All(leased, lease => Assert.True(store.ReleaseLease(lease)));
    }

    [Fact]
    public void A_delete_of_a_leased_block_hides_it_at_once_and_frees_it_after_the_lease()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        var id = TestBlocks.Id(14);
        var chunks = TestBlocks.Chunks(id, 1, 1000);
        TestBlocks.Put(store, id, chunks);
        var extents = new ChunkExtent[1];
        var lease = store.Read(id, 0, -1, TimeSpan.FromSeconds(5), extents);

        Assert.True(store.Delete(id));
        Assert.False(store.Contains(id));
        Assert.True(store.ExtentBytes(extents[0]).SequenceEqual(chunks[0]));
        Assert.NotEqual(0, store.GetStats().HostBytes);
        Assert.True(store.ReleaseLease(lease.LeaseId));
        Assert.Equal(0, store.GetStats().HostBytes);
        Assert.False(store.Delete(id));
    }

    [Fact]
    public void Batch_exists_answers_each_key()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());
        TestBlocks.Put(store, TestBlocks.Id(20), TestBlocks.Chunks(TestBlocks.Id(20), 1, 10));
        TestBlocks.Put(store, TestBlocks.Id(22), TestBlocks.Chunks(TestBlocks.Id(22), 1, 10));
        var present = new bool[3];

        store.Exists([TestBlocks.Id(20), TestBlocks.Id(21), TestBlocks.Id(22)], present);

        Assert.Equal([true, false, true], present);
    }

    [Fact]
    public void The_observer_hears_commits_and_evictions()
    {
        var observer = new RecordingObserver();
        using var store = StorageEngine.Open(Engines.HostOnly(arenaBytes: 2 << 20), observer);

        for (ulong number = 0; number < 30; number++)
        {
            TestBlocks.Put(store, TestBlocks.Id(number), TestBlocks.Chunks(TestBlocks.Id(number), 1, 200_000));
        }

        Assert.Equal(30, observer.Count("committed"));
        Assert.Equal(store.GetStats().Evictions, observer.Count("removed"));
        Assert.Equal(30 - observer.Count("removed"), store.EnumerateBlocks().Count);
    }

    [Fact]
    public void Without_reserved_hugetlb_pages_the_arena_falls_back_to_transparent_huge_pages()
    {
        const string meminfo = "/proc/meminfo";
        const string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        Assert.SkipUnless(File.Exists(meminfo) && File.Exists(thp), "No /proc/meminfo or THP settings to compare with.");
        var freeHugePages = File.ReadLines(meminfo).First(line => line.StartsWith("HugePages_Free:", StringComparison.Ordinal));
        Assert.SkipUnless(freeHugePages.EndsWith(" 0", StringComparison.Ordinal), "This machine has hugetlb pages reserved.");
        Assert.SkipWhen(File.ReadAllText(thp).Contains("[never]", StringComparison.Ordinal), "THP is disabled here.");

        using var arena = Arena.HostArena.Create(4 << 20, tryHugeTlb: true, tryLock: false);

        Assert.Equal(Arena.HugePageMode.TransparentHugePages, arena.HugePages);
        arena.Slice(0, 4 << 20).Fill(0xA5); // every page is really backed
        Assert.Equal(0xA5, arena.Slice((4 << 20) - 1, 1)[0]);
    }

    [Fact]
    public void The_arena_reports_the_pages_it_got()
    {
        using var store = StorageEngine.Open(Engines.HostOnly());

        Assert.NotEqual(0, store.ArenaAddress);
        Assert.Equal(0, store.ArenaAddress % 4096);
        Assert.True(Enum.IsDefined(store.ArenaPages.HugePages));
    }
}
