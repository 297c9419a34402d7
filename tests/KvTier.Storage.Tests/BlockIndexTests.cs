using KvTier.Storage.Indexing;

namespace KvTier.Storage.Tests;

public sealed class BlockIndexTests
{
    [Fact]
    public void Adds_finds_and_removes_agree_with_a_dictionary()
    {
        var index = new BlockIndex(expectedBlocks: 64, shardCount: 4);
        var model = new Dictionary<BlockId, int>();
        var random = new Random(11);
        for (var step = 0; step < 20_000; step++)
        {
            // Few distinct keys so adds, hits and removes all happen often and probe runs collide.
            var id = TestBlocks.Id((ulong)random.Next(3_000));
            lock (index.LockFor(id))
            {
                var slot = index.Find(id);
                Assert.Equal(model.TryGetValue(id, out var expected) ? expected : -1, slot);
                if (slot < 0)
                {
                    model[id] = index.Add(id);
                    index[model[id]].State = EntryState.Committed;
                }
                else if (random.Next(2) == 0)
                {
                    index.Remove(id, slot);
                    model.Remove(id);
                }
            }
        }

        Assert.Equal(model.Count, index.Count);
        foreach (var (id, slot) in model)
        {
            Assert.True(index[slot].Matches(id));
        }
    }

    [Fact]
    public void An_entry_stays_within_its_memory_budget()
    {
        Assert.True(System.Runtime.CompilerServices.Unsafe.SizeOf<BlockEntry>() <= 56);
    }
}
