namespace KvTier.Storage.Tests;

public sealed class CrashRecoveryTests
{
    [Fact]
    public void A_process_killed_while_writing_leaves_segments_that_recover_to_intact_blocks()
    {
        using var directory = new TempDirectory();

        CrashWriter.RunAndKill(directory.Path, TimeSpan.FromMilliseconds(300));
        using var recovered = StorageEngine.Open(NvmeTierTests.AllAdmitted(directory.Path));

        var stats = recovered.GetStats();
        Assert.True(stats.RecoveredBlocks > 0);
        NvmeTierTests.AssertEveryBlockReadsBackIntact(recovered);
    }

    [Fact]
    public void A_record_torn_by_a_crash_in_the_middle_is_skipped_and_later_records_survive()
    {
        using var directory = new TempDirectory();
        using (var store = StorageEngine.Open(NvmeTierTests.AllAdmitted(directory.Path)))
        {
            NvmeTierTests.FillWithColdBlocks(store, 0, 40);
        }

        var before = NvmeTierTests.CountRecovered(directory.Path);
        // What a crash between two page writes of one record leaves: its second page never reached the disk.
        var segment = Directory.GetFiles(directory.Path, "segment-*.kvs").Order(StringComparer.Ordinal).First();
        using (var file = new FileStream(segment, FileMode.Open))
        {
            file.Position = 4096;
            file.Write(new byte[4096]);
        }

        using var restarted = StorageEngine.Open(NvmeTierTests.AllAdmitted(directory.Path));

        Assert.Equal(before - 1, restarted.GetStats().RecoveredBlocks);
        Assert.Equal(1, restarted.GetStats().CorruptRecordsSkipped);
        NvmeTierTests.AssertEveryBlockReadsBackIntact(restarted);
    }
}
