using System.Net.Sockets;
using KvTier.Core;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;

namespace KvTier.Node.Tests.DataPlane;

public sealed class BlockStoreFrameHandlerTests
{
    [Fact]
    public async Task Ping_is_answered_with_an_empty_body()
    {
        await using var node = await DataPlaneNode.StartAsync();

        var (header, body) = await node.SendAsync(Opcode.Ping, []);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Empty(body);
    }

    [Fact]
    public async Task A_block_put_in_two_phases_reads_back_through_its_lease()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 1);

        var (_, blocks, extents) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1), DataPlaneNode.Key(2));
        var (statuses, bytes) = await node.ReadAsync([.. extents.Select(e => new ExtentIo(blocks[0].Handle, e.Offset, e.Length))]);
        var released = await node.HandlesAsync(Opcode.ReleaseLeases, blocks[0].Handle);

        Assert.Equal(FrameStatus.Ok, blocks[0].Status);
        Assert.Equal(FrameStatus.NotFound, blocks[1].Status);
        Assert.All(statuses, s => Assert.Equal(FrameStatus.Ok, s));
        Assert.Equal(chunks.SelectMany(c => c).ToArray(), bytes);
        Assert.Equal([FrameStatus.Ok], released);
        Assert.Equal(0, node.Handler.OpenLeases);
    }

    [Fact]
    public async Task A_reserved_block_leaves_its_directory_anchor_in_the_book_so_the_node_can_publish_it()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(3), seed: 3);

        Assert.True(node.Anchors.TryGet(new BlockId(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(3)), out var anchor));
        Assert.Equal(DataPlaneNode.AnchorOf(DataPlaneNode.Key(3)), anchor);
        Assert.False(node.Anchors.TryGet(new BlockId(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(4)), out _));
    }

    [Fact]
    public async Task Reads_outside_a_lease_or_under_an_unknown_lease_are_refused_per_item()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 2);
        var (_, blocks, extents) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1));
        var lease = blocks[0].Handle;

        var (statuses, bytes) = await node.ReadAsync(
            new ExtentIo(lease, extents[0].Offset + 64, extents[0].Length),
            new ExtentIo(lease, extents[0].Offset, extents[0].Length + 1),
            new ExtentIo(lease + 1000, extents[0].Offset, extents[0].Length),
            new ExtentIo(lease, extents[1].Offset, extents[1].Length));

        Assert.Equal([FrameStatus.BadRequest, FrameStatus.BadRequest, FrameStatus.Expired, FrameStatus.Ok], statuses);
        Assert.Equal(chunks[1], bytes);
    }

    [Fact]
    public async Task A_released_lease_cannot_be_read_any_more()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 3);
        var (_, blocks, extents) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1));
        await node.HandlesAsync(Opcode.ReleaseLeases, blocks[0].Handle);

        var (statuses, bytes) = await node.ReadAsync(new ExtentIo(blocks[0].Handle, extents[0].Offset, extents[0].Length));

        Assert.Equal([FrameStatus.Expired], statuses);
        Assert.Empty(bytes);
    }

    [Fact]
    public async Task Writes_outside_a_reservation_are_refused_and_the_commit_then_fails_its_checksum()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunk = new byte[DataPlaneNode.Namespace.Layout.BytesPerLayerChunk];
        new Random(4).NextBytes(chunk);
        var (_, blocks, extents) = await node.ReserveAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1), chunk, chunk);
        var reservation = blocks[0].Handle;

        var written = await node.WriteAsync(
            [new ExtentIo(reservation, extents[1].Offset + 8, extents[1].Length), new ExtentIo(reservation + 7, extents[0].Offset, extents[0].Length)],
            [chunk, chunk]);
        var committed = await node.HandlesAsync(Opcode.CommitBlocks, reservation);

        Assert.Equal([FrameStatus.BadRequest, FrameStatus.Expired], written);
        Assert.Equal([FrameStatus.Corrupt], committed);
        Assert.False(node.Engine.Contains(new BlockId(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1))));
    }

    [Fact]
    public async Task A_second_reservation_of_a_stored_block_answers_AlreadyPresent()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 5);

        var (_, blocks, _) = await node.ReserveAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1), chunks);

        Assert.Equal(FrameStatus.AlreadyPresent, blocks[0].Status);
    }

    [Fact]
    public async Task A_block_whose_chunk_count_is_not_the_layer_count_is_refused()
    {
        await using var node = await DataPlaneNode.StartAsync();

        var (header, blocks, _) = await node.ReserveAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1), new byte[64]);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal(FrameStatus.BadRequest, blocks[0].Status);
    }

    [Fact]
    public async Task Draining_refuses_reservations_while_reads_continue()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = await node.PutAsync(DataPlaneNode.Key(1), seed: 6);

        node.Handler.StartDraining();
        var (reserve, _, _) = await node.ReserveAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(2), chunks);
        var (_, blocks, extents) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1));
        var (statuses, bytes) = await node.ReadAsync([.. extents.Select(e => new ExtentIo(blocks[0].Handle, e.Offset, e.Length))]);

        Assert.True(node.Handler.Draining);
        Assert.Equal(FrameStatus.Draining, reserve.Status);
        Assert.All(statuses, s => Assert.Equal(FrameStatus.Ok, s));
        Assert.Equal(chunks.SelectMany(c => c).ToArray(), bytes);
    }

    [Fact]
    public async Task Requests_for_an_unregistered_namespace_get_UnknownNamespace()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var other = new NamespaceId(DataPlaneNode.Namespace.Id.Value ^ 1);

        var (lease, _, _) = await node.LeaseAsync(other, DataPlaneNode.Key(1));
        var (reserve, _, _) = await node.ReserveAsync(other, DataPlaneNode.Key(1), new byte[64]);
        var contains = new byte[ContainsBlocksRequest.MeasureBody(1)];
        ContainsBlocksRequest.Write(contains, other, [DataPlaneNode.Key(1)]);
        var (containsHeader, _) = await node.SendAsync(Opcode.ContainsBlocks, contains);

        Assert.Equal(FrameStatus.UnknownNamespace, lease.Status);
        Assert.Equal(FrameStatus.UnknownNamespace, reserve.Status);
        Assert.Equal(FrameStatus.UnknownNamespace, containsHeader.Status);
    }

    [Fact]
    public async Task Contains_reports_which_keys_the_node_holds()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(2), seed: 7);
        var body = new byte[ContainsBlocksRequest.MeasureBody(3)];
        ContainsBlocksRequest.Write(body, DataPlaneNode.Namespace.Id, [DataPlaneNode.Key(1), DataPlaneNode.Key(2), DataPlaneNode.Key(3)]);

        var (header, response) = await node.SendAsync(Opcode.ContainsBlocks, body);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal(new byte[] { 3, 0, 0, 0, 0, 1, 0 }, response);
    }

    [Fact]
    public async Task Corrupt_arena_bytes_are_never_leased_or_read()
    {
        await using var node = await DataPlaneNode.StartAsync();
        await node.PutAsync(DataPlaneNode.Key(1), seed: 8);
        var (_, blocks, extents) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1));
        unsafe
        {
            ((byte*)node.Engine.ArenaAddress)[(long)extents[1].Offset + 5] ^= 0xff;
        }

        var (statuses, bytes) = await node.ReadAsync([.. extents.Select(e => new ExtentIo(blocks[0].Handle, e.Offset, e.Length))]);
        await node.HandlesAsync(Opcode.ReleaseLeases, blocks[0].Handle);
        var (_, again, _) = await node.LeaseAsync(DataPlaneNode.Namespace.Id, DataPlaneNode.Key(1));

        Assert.Equal([FrameStatus.Ok, FrameStatus.Corrupt], statuses);
        Assert.Equal(extents[0].Length, bytes.Length);
        Assert.Equal(FrameStatus.Corrupt, again[0].Status);
    }

    [Fact]
    public async Task A_malformed_body_is_answered_BadRequest_and_the_connection_keeps_serving()
    {
        await using var node = await DataPlaneNode.StartAsync();

        var (bad, _) = await node.SendAsync(Opcode.LeaseBlocks, [1, 2, 3]);
        var oversizedCount = new byte[20];
        BitConverter.TryWriteBytes(oversizedCount.AsSpan(16), int.MaxValue);
        var (huge, _) = await node.SendAsync(Opcode.LeaseBlocks, oversizedCount);
        var (ping, _) = await node.SendAsync(Opcode.Ping, []);

        Assert.Equal(FrameStatus.BadRequest, bad.Status);
        Assert.Equal(FrameStatus.BadRequest, huge.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
    }

    [Fact]
    public async Task Garbage_and_oversized_lengths_close_only_their_own_connection()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var token = TestContext.Current.CancellationToken;
        var frames = new List<byte[]> { new byte[64], new byte[FrameHeader.Size] };
        new Random(9).NextBytes(frames[0]);
        new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0).WriteTo(frames[1]);
        BitConverter.TryWriteBytes(frames[1].AsSpan(16), int.MaxValue);

        foreach (var frame in frames)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(node.Server.LocalEndPoint, token);
            await socket.SendAsync(frame, token);
            var received = await socket.ReceiveAsync(new byte[64], token);
            Assert.Equal(0, received); // closed by the node
        }

        var (ping, _) = await node.SendAsync(Opcode.Ping, []);
        Assert.Equal(FrameStatus.Ok, ping.Status);
        Assert.Equal(2, node.Server.ProtocolViolations);
    }
}
