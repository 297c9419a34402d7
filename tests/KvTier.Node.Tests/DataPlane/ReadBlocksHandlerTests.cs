using KvTier.Core;
using KvTier.Storage;
using KvTier.Transport;

namespace KvTier.Node.Tests.DataPlane;

/// <summary>The one-round-trip read: leased, verified, sent from the arena layer-major, released by the node.</summary>
public sealed class ReadBlocksHandlerTests
{
    private static readonly NamespaceId Ns = DataPlaneNode.Namespace.Id;

    [Fact]
    public async Task Every_block_is_answered_and_the_chunks_arrive_layer_major_then_the_node_releases_its_leases()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var first = await node.PutAsync(DataPlaneNode.Key(1), seed: 1);
        var third = await node.PutAsync(DataPlaneNode.Key(3), seed: 3);

        var (header, statuses, chunks, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2), DataPlaneNode.Key(3));
        var (ping, _) = await node.SendAsync(Opcode.Ping, []); // the node serves a connection in order: ReadBlocks is done

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal([FrameStatus.Ok, FrameStatus.NotFound, FrameStatus.Ok], statuses);
        Assert.Equal([first[0].Length, first[1].Length, 0, 0, third[0].Length, third[1].Length], chunks.Select(c => c.Length));
        Assert.Equal([.. first[0], .. third[0], .. first[1], .. third[1]], bytes);
        Assert.Equal(FrameStatus.Ok, ping.Status);
        Assert.Equal(0, node.Engine.GetStats().ActiveLeases);
        Assert.Equal(0, node.Handler.OpenLeases);
    }

    [Fact]
    public async Task A_split_read_carries_each_chunks_first_bytes_in_the_head_and_the_rest_layer_major_after_it()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var first = await node.PutAsync(DataPlaneNode.Key(1), seed: 11);
        var third = await node.PutAsync(DataPlaneNode.Key(3), seed: 13);

        var (header, statuses, chunks, heads, payloads) = await node.ReadBlocksSplitAsync(Ns, 0, 2, 32,
            DataPlaneNode.Key(1), DataPlaneNode.Key(2), DataPlaneNode.Key(3));

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal([FrameStatus.Ok, FrameStatus.NotFound, FrameStatus.Ok], statuses);
        Assert.Equal([first[0].Length, first[1].Length, 0, 0, third[0].Length, third[1].Length], chunks.Select(c => c.Length));
        Assert.Equal([first[0][..32], first[1][..32], new byte[32], new byte[32], third[0][..32], third[1][..32]], heads);
        Assert.Equal([.. first[0][32..], .. third[0][32..], .. first[1][32..], .. third[1][32..]], payloads);
        Assert.Equal(0, node.Handler.OpenLeases);
    }

    [Fact]
    public async Task A_split_read_with_empty_heads_sends_the_same_bytes_as_ReadBlocks()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 12);
        await node.PutAsync(DataPlaneNode.Key(2), seed: 15);

        var (_, _, plainChunks, plain) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2));
        var (_, _, splitChunks, heads, payloads) = await node.ReadBlocksSplitAsync(Ns, 0, 2, 0, DataPlaneNode.Key(1), DataPlaneNode.Key(2));

        Assert.Equal(plainChunks, splitChunks);
        Assert.All(heads, Assert.Empty);
        Assert.Equal(plain, payloads);
    }

    [Fact]
    public async Task A_split_read_of_a_corrupt_block_answers_Corrupt_with_neither_head_bytes_nor_payload()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 14);
        var (_, blocks, extents) = await node.LeaseAsync(Ns, DataPlaneNode.Key(1));
        await node.HandlesAsync(Opcode.ReleaseLeases, blocks[0].Handle);
        unsafe
        {
            ((byte*)node.Engine.ArenaAddress)[(long)extents[0].Offset + 3] ^= 0x10;
        }

        var (_, statuses, _, heads, payloads) = await node.ReadBlocksSplitAsync(Ns, 0, 2, 32, DataPlaneNode.Key(1));

        Assert.Equal([FrameStatus.Corrupt], statuses);
        Assert.All(heads, head => Assert.Equal(new byte[32], head));
        Assert.Empty(payloads);
    }

    [Fact]
    public async Task A_layer_range_sends_only_those_layers()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 4);

        var (_, statuses, _, bytes) = await node.ReadBlocksAsync(Ns, 1, 1, DataPlaneNode.Key(1));

        Assert.Equal([FrameStatus.Ok], statuses);
        Assert.Equal(chunks[1], bytes);
    }

    [Fact]
    public async Task A_corrupt_block_is_answered_Corrupt_and_none_of_its_bytes_are_sent()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 5);
        var good = await node.PutAsync(DataPlaneNode.Key(2), seed: 6);
        var (_, blocks, extents) = await node.LeaseAsync(Ns, DataPlaneNode.Key(1));
        await node.HandlesAsync(Opcode.ReleaseLeases, blocks[0].Handle);
        unsafe
        {
            ((byte*)node.Engine.ArenaAddress)[(long)extents[1].Offset + 7] ^= 0x10;
        }

        var (_, statuses, _, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2));
        var (_, again, _, _) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1));

        Assert.Equal([FrameStatus.Corrupt, FrameStatus.Ok], statuses);
        Assert.Equal([.. good[0], .. good[1]], bytes);
        Assert.Equal([FrameStatus.NotFound], again); // the node dropped it
    }

    [Fact]
    public async Task An_evicted_block_is_answered_NotFound()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 7);
        Assert.True(node.Engine.Delete(new BlockId(Ns, DataPlaneNode.Key(1))));

        var (header, statuses, _, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1));

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal([FrameStatus.NotFound], statuses);
        Assert.Empty(bytes);
    }

    [Fact]
    public async Task Reads_continue_while_the_node_drains()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 8);
        node.Handler.StartDraining();

        var (_, statuses, _, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1));

        Assert.Equal([FrameStatus.Ok], statuses);
        Assert.Equal([.. chunks[0], .. chunks[1]], bytes);
    }

    [Fact]
    public async Task An_unregistered_namespace_is_refused_as_a_whole()
    {
        await using var node = await DataPlaneNode.StartAsync();

        var (header, _, _, bytes) = await node.ReadBlocksAsync(new NamespaceId(12345), 0, 1, DataPlaneNode.Key(1));

        Assert.Equal(FrameStatus.UnknownNamespace, header.Status);
        Assert.Empty(bytes);
    }

    [Fact]
    public async Task Malformed_bodies_and_layer_ranges_outside_the_namespace_are_BadRequest_and_the_connection_keeps_serving()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var zeroLayers = new byte[Transport.Messages.ReadBlocksRequest.MeasureBody(1)];
        Transport.Messages.ReadBlocksRequest.Write(zeroLayers, Ns, 0, 0, [DataPlaneNode.Key(1)]);

        var (truncated, _) = await node.SendAsync(Opcode.ReadBlocks, [1, 2, 3]);
        var (none, _) = await node.SendAsync(Opcode.ReadBlocks, zeroLayers);
        var (outside, _, _, _) = await node.ReadBlocksAsync(Ns, 1, 2, DataPlaneNode.Key(1));
        var (ping, _) = await node.SendAsync(Opcode.Ping, []);

        Assert.Equal(FrameStatus.BadRequest, truncated.Status);
        Assert.Equal(FrameStatus.BadRequest, none.Status);
        Assert.Equal(FrameStatus.BadRequest, outside.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
    }
}
