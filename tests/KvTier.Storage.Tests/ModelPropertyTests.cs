namespace KvTier.Storage.Tests;

/// <summary>Random operation sequences against a dictionary model: whatever is served equals what was stored last.</summary>
public sealed class ModelPropertyTests
{
    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void Random_operations_never_serve_bytes_other_than_the_last_committed_ones(int seed, bool withNvme)
    {
        using var directory = new TempDirectory();
        var options = withNvme ? NvmeTierTests.AllAdmitted(directory.Path) : Engines.HostOnly(arenaBytes: 4 << 20);
        options.MaxBlockBytes = 1 << 20;
        using var store = StorageEngine.Open(options);
        var random = new Random(seed);
        var model = new Dictionary<BlockId, byte[][]>();
        var held = new List<(ulong Lease, BlockId Id, ChunkExtent[] Extents, int First, int Count)>();
        for (var step = 0; step < 1_500; step++)
        {
            var id = TestBlocks.Id((ulong)random.Next(60));
            switch (random.Next(10))
            {
                case < 4:
                    {
                        var chunks = TestBlocks.Chunks(id, random.Next(1, 5), random.Next(1, 80_000));
                        var present = store.Contains(id);
                        var (reserve, commit) = TestBlocks.Put(store, id, chunks);
                        Assert.Equal(present, reserve == ReserveStatus.AlreadyPresent);
                        Assert.True(reserve != ReserveStatus.Busy || held.Exists(lease => lease.Id == id), "busy without a pending delete");
                        if (reserve == ReserveStatus.Reserved)
                        {
                            Assert.Equal(CommitStatus.Committed, commit.Status);
                            model[id] = chunks;
                        }

                        break;
                    }

                case < 8:
                    {
                        var extents = new ChunkExtent[8];
                        var first = random.Next(2);
                        var result = store.Read(id, first, -1, TimeSpan.FromMinutes(1), extents);
                        if (!model.TryGetValue(id, out var expected))
                        {
                            Assert.Equal(ReadStatus.Miss, result.Status);
                            break;
                        }

                        Assert.True(result.Status is ReadStatus.Hit or ReadStatus.Miss or ReadStatus.InvalidRange, $"{id}: {result.Status}");
                        if (result.Status == ReadStatus.InvalidRange)
                        {
                            Assert.Single(expected);
                            Assert.Equal(1, first);
                        }
                        else if (result.Status == ReadStatus.Hit)
                        {
                            Assert.Equal(expected.Length, result.ChunkCount);
                            held.Add((result.LeaseId, id, extents, first, expected.Length - first));
                        }
                        else
                        {
                            model.Remove(id); // evicted: the model forgets it too
                        }

                        break;
                    }

                case 8:
                    {
                        var present = store.Contains(id);
                        Assert.Equal(present, store.Delete(id));
                        model.Remove(id);
                        break;
                    }

                default:
                    foreach (var lease in held)
                    {
                        // Bytes under a lease stay exactly as stored even if the block was evicted or deleted since.
                        for (var index = 0; index < lease.Count; index++)
                        {
                            var bytes = store.ExtentBytes(lease.Extents[index]);
                            Assert.Equal(lease.Extents[index].Checksum, ChunkInfo.ChecksumOf(bytes));
                        }

                        Assert.True(store.ReleaseLease(lease.Lease));
                    }

                    held.Clear();
                    break;
            }

            if (!model.TryGetValue(id, out _) && store.Contains(id))
            {
                Assert.Fail($"{id} is stored but the model does not have it");
            }
        }

        foreach (var lease in held)
        {
            Assert.True(store.ReleaseLease(lease.Lease));
        }

        foreach (var (id, chunks) in model)
        {
            var (status, read) = TestBlocks.Get(store, id);
            if (status == ReadStatus.Hit)
            {
                TestBlocks.AssertSame(chunks, read);
            }
        }

        var stats = store.GetStats();
        Assert.Equal(0, stats.ActiveLeases);
        Assert.Equal(0, stats.CorruptReads);
        Assert.True(stats.HostBytes <= stats.HostCapacityBytes);
    }
}
