namespace KvTier.Storage.Tests;

public sealed class ConcurrencyTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Parallel_puts_reads_deletes_and_evictions_under_leases_serve_only_intact_bytes(bool withNvme)
    {
        using var directory = new TempDirectory();
        var options = withNvme ? NvmeTierTests.AllAdmitted(directory.Path) : Engines.HostOnly(arenaBytes: 4 << 20);
        options.MaxBlockBytes = 1 << 20;
        using var store = StorageEngine.Open(options);
        var cancellation = TestContext.Current.CancellationToken;
        var hits = 0L;
        var blocks = Enumerable.Range(0, 80).Select(number => TestBlocks.Chunks(TestBlocks.Id((ulong)number), 3, 40_000)).ToArray();

        var workers = Enumerable.Range(0, 4).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            for (var step = 0; step < 1_500; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                var number = random.Next(80);
                var id = TestBlocks.Id((ulong)number);
                var expected = blocks[number]; // the same bytes whoever puts the block
                switch (random.Next(6))
                {
                    case < 2:
                        var (reserve, commit) = TestBlocks.Put(store, id, expected);
                        Assert.True(reserve != ReserveStatus.Reserved || commit.Status == CommitStatus.Committed);
                        break;
                    case < 5:
                        var extents = new ChunkExtent[3];
                        var result = store.Read(id, 0, -1, TimeSpan.FromMinutes(1), extents);
                        Assert.True(result.Status is ReadStatus.Hit or ReadStatus.Miss or ReadStatus.NoSpace, $"{id}: {result.Status}");
                        if (result.Status == ReadStatus.Hit)
                        {
                            Thread.Yield(); // let evictions and deletes race with the lease
                            for (var index = 0; index < 3; index++)
                            {
                                Assert.True(store.ExtentBytes(extents[index]).SequenceEqual(expected[index]), $"{id} chunk {index}");
                            }

                            Assert.True(store.ReleaseLease(result.LeaseId));
                            Interlocked.Increment(ref hits);
                        }

                        break;
                    default:
                        store.Delete(id);
                        break;
                }
            }
        }, cancellation)).ToArray();
        await Task.WhenAll(workers);

        foreach (var block in store.EnumerateBlocks())
        {
            store.Delete(block.Id);
        }

        var stats = store.GetStats();
        Assert.True(hits > 0);
        Assert.Equal(0, stats.ActiveLeases);
        Assert.Equal(0, stats.CorruptReads);
        Assert.Equal(0, stats.HostBytes);
        Assert.Equal(0, stats.Blocks);
    }
}
