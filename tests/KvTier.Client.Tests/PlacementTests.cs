using KvTier.BlockDirectory;
using KvTier.Core;

namespace KvTier.Client.Tests;

/// <summary>Weighted rendezvous placement: shares follow capacity once nodes are full, empty nodes fill faster, and a
/// node leaving moves only the blocks it held.</summary>
public sealed class PlacementTests
{
    private const int Keys = 20_000;

    [Fact]
    public void Full_nodes_share_new_blocks_by_capacity_whatever_their_free_bytes_between_evictions()
    {
        // Both nodes are past the eviction watermark; the small one happens to report more free bytes this heartbeat.
        NodeInfo[] nodes = [Node(1, capacity: 100, free: 9), Node(2, capacity: 300, free: 15)];

        var shares = TopChoiceShares(nodes);

        Assert.InRange(shares[1], 0.23, 0.27);
        Assert.InRange(shares[2], 0.73, 0.77);
    }

    [Fact]
    public void An_empty_node_draws_more_than_its_capacity_share_until_it_fills()
    {
        NodeInfo[] nodes = [Node(1, capacity: 100, free: 5), Node(2, capacity: 100, free: 5), Node(3, capacity: 100, free: 100)];

        var shares = TopChoiceShares(nodes);

        // Weights 25, 25, 100: the empty node takes two thirds of new blocks.
        Assert.InRange(shares[3], 0.64, 0.69);
        Assert.InRange(shares[1], 0.15, 0.18);
    }

    [Fact]
    public void A_node_leaving_moves_only_the_blocks_whose_top_choice_it_was()
    {
        NodeInfo[] all = [Node(1, 100, 50), Node(2, 100, 50), Node(3, 100, 50), Node(4, 100, 50)];
        NodeInfo[] without3 = [all[0], all[1], all[3]];
        var moved = 0;
        for (var k = 0; k < Keys; k++)
        {
            var key = new BlockKey((ulong)k * 7919, 17);
            var before = Placement.Rank(key, all);
            var after = Placement.Rank(key, without3);
            if (before[0].Id.Value != 3)
            {
                Assert.Equal(before[0].Id, after[0].Id);
            }
            else
            {
                moved++;
                Assert.Equal(before[1].Id, after[0].Id);
            }
        }

        Assert.InRange(moved, Keys / 5, Keys / 3);
    }

    [Fact]
    public void Every_node_appears_once_in_a_ranking()
    {
        NodeInfo[] nodes = [Node(1, 100, 0), Node(2, 100, 100), Node(3, 0, 0)];

        var ranking = Placement.Rank(new BlockKey(1, 2), nodes);

        Assert.Equal([1UL, 2UL, 3UL], ranking.Select(n => n.Id.Value).Order());
    }

    private static Dictionary<ulong, double> TopChoiceShares(NodeInfo[] nodes)
    {
        var counts = nodes.ToDictionary(n => n.Id.Value, _ => 0);
        for (var k = 0; k < Keys; k++)
        {
            counts[Placement.Rank(new BlockKey((ulong)k * 104_729, 3), nodes)[0].Id.Value]++;
        }

        return counts.ToDictionary(c => c.Key, c => (double)c.Value / Keys);
    }

    private static NodeInfo Node(ulong id, long capacity, long free) =>
        new(new NodeId(id), 1, $"127.0.0.1:{7000 + id}", $"127.0.0.1:{8000 + id}", false, capacity, free);
}
