using KvTier.Storage.Arena;

namespace KvTier.Storage.Tests;

public sealed class OffsetAllocatorTests
{
    [Fact]
    public void Freeing_everything_merges_back_into_one_extent()
    {
        var allocator = new OffsetAllocator(1 << 20);
        var handles = Enumerable.Range(0, 100).Select(size => allocator.Allocate((size * 97) + 1, out _)).ToList();

        foreach (var handle in handles.Where((_, position) => position % 2 == 0).Concat(handles.Where((_, position) => position % 2 == 1)))
        {
            allocator.Free(handle);
        }

        Assert.Equal(1 << 20, allocator.FreeBytes);
        Assert.Equal(1 << 20, allocator.LargestFreeBytes());
        Assert.Equal(0, allocator.Fragmentation());
    }

    [Fact]
    public void An_allocation_larger_than_any_free_extent_fails_without_side_effects()
    {
        var allocator = new OffsetAllocator(1 << 20);
        var first = allocator.Allocate(600 << 10, out _);

        Assert.True(first >= 0);
        Assert.Equal(-1, allocator.Allocate(600 << 10, out var offset));
        Assert.Equal(-1, offset);
        Assert.Equal((1 << 20) - (600 << 10), allocator.FreeBytes);
    }

    [Fact]
    public void A_double_free_is_refused()
    {
        var allocator = new OffsetAllocator(1 << 20);
        var handle = allocator.Allocate(1000, out _);
        allocator.Free(handle);

        Assert.Throws<InvalidOperationException>(() => allocator.Free(handle));
    }

    [Fact]
    public void Bins_round_up_to_a_size_that_covers_the_request()
    {
        for (uint units = 1; units < 5_000_000; units = (units * 3 / 2) + 1)
        {
            var bin = OffsetAllocator.CeilingBin(units);
            Assert.True(OffsetAllocator.BinMinimum(bin) >= units, $"bin {bin} for {units}");
            Assert.True(OffsetAllocator.BinMinimum(OffsetAllocator.FloorBin(units)) <= units);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Random_allocations_and_frees_never_overlap_and_account_every_byte(int seed)
    {
        const long capacity = 8 << 20;
        var allocator = new OffsetAllocator(capacity);
        var random = new Random(seed);
        var live = new Dictionary<int, (long Offset, long Size)>();
        for (var step = 0; step < 5_000; step++)
        {
            if (live.Count > 0 && random.Next(3) == 0)
            {
                var handle = live.Keys.ElementAt(random.Next(live.Count));
                allocator.Free(handle);
                live.Remove(handle);
            }
            else
            {
                var size = random.Next(1, 200_000);
                var handle = allocator.Allocate(size, out var offset);
                if (handle >= 0)
                {
                    Assert.Equal(0, offset % OffsetAllocator.Granularity);
                    Assert.True(offset + size <= capacity);
                    live.Add(handle, (offset, OffsetAllocator.RoundUp(size)));
                }
            }

            if (step % 500 == 0)
            {
                var ordered = live.Values.OrderBy(extent => extent.Offset).ToList();
                for (var index = 1; index < ordered.Count; index++)
                {
                    Assert.True(ordered[index - 1].Offset + ordered[index - 1].Size <= ordered[index].Offset, "extents overlap");
                }

                Assert.Equal(capacity - live.Values.Sum(extent => extent.Size), allocator.FreeBytes);
            }
        }
    }
}
