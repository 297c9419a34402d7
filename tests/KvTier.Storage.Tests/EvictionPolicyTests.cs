using KvTier.Storage.Eviction;

namespace KvTier.Storage.Tests;

public sealed class EvictionPolicyTests
{
    [Fact]
    public void S3_fifo_keeps_a_hot_set_through_a_one_off_scan_where_lru_loses_it()
    {
        Assert.Equal(10, HotSurvivors(new S3FifoPolicy()));
        Assert.Equal(0, HotSurvivors(new LruPolicy()));
    }

    [Fact]
    public void A_refused_item_is_never_evicted()
    {
        var policy = new S3FifoPolicy();
        for (var item = 0; item < 50; item++)
        {
            policy.Insert(item, (ulong)item);
        }

        var filter = new RefuseEven();
        var evicted = new List<int>();
        while (policy.TryEvict(ref filter, out var victim))
        {
            evicted.Add(victim);
        }

        Assert.Equal(25, evicted.Count);
        Assert.All(evicted, victim => Assert.Equal(1, victim % 2));
        Assert.Equal(25, policy.Count);
    }

    [Fact]
    public void An_item_evicted_from_the_small_queue_returns_straight_to_main()
    {
        var policy = new S3FifoPolicy();
        var any = default(AnyVictim);
        policy.Insert(1, 1001);
        Assert.True(policy.TryEvict(ref any, out var victim));
        Assert.Equal(1, victim);
        policy.Insert(2, 1002);

        policy.Insert(1, 1001); // in the ghost: goes to main, so the newer 2 (small) is evicted first
        Assert.True(policy.TryEvict(ref any, out victim));

        Assert.Equal(2, victim);
    }

    /// <summary>A cache of 50 items: 10 hot items read repeatedly, then a scan of 200 one-off items.</summary>
    private static int HotSurvivors(IEvictionPolicy policy)
    {
        const int capacity = 50;
        var resident = new HashSet<int>();
        var any = default(AnyVictim);
        void Access(int item)
        {
            if (resident.Contains(item))
            {
                policy.Touch(item);
                return;
            }

            if (resident.Count == capacity)
            {
                Assert.True(policy.TryEvict(ref any, out var victim));
                resident.Remove(victim);
            }

            policy.Insert(item, (ulong)item);
            resident.Add(item);
        }

        for (var round = 0; round < 5; round++)
        {
            for (var item = 0; item < 10; item++)
            {
                Access(item);
            }
        }

        for (var item = 1000; item < 1200; item++)
        {
            Access(item);
        }

        return Enumerable.Range(0, 10).Count(resident.Contains);
    }

    private struct RefuseEven : IVictimFilter
    {
        public readonly bool CanEvict(int item) => item % 2 == 1;
    }
}
