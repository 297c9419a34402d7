using System.Buffers.Binary;
using System.IO.Hashing;
using System.Net.Sockets;
using KvTier.Core;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;

namespace KvTier.Node.Tests.DataPlane;

/// <summary>The one-round-trip store: declarations and bytes in one frame, received into the reservations, verified,
/// committed, one status per block.</summary>
public sealed class PutBlocksHandlerTests
{
    private static readonly NamespaceId Ns = DataPlaneNode.Namespace.Id;

    [Fact]
    public async Task Blocks_put_in_one_frame_read_back_byte_for_byte_and_carry_their_anchors()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var first = Chunks(seed: 1);
        var second = Chunks(seed: 2);

        var statuses = await PutAsync(node, (DataPlaneNode.Key(1), first), (DataPlaneNode.Key(2), second));
        var (_, read, _, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2));

        Assert.Equal([FrameStatus.Ok, FrameStatus.Ok], statuses);
        Assert.Equal([FrameStatus.Ok, FrameStatus.Ok], read);
        Assert.Equal([.. first[0], .. second[0], .. first[1], .. second[1]], bytes);
        Assert.True(node.Anchors.TryGet(new BlockId(Ns, DataPlaneNode.Key(2)), out var anchor));
        Assert.Equal(DataPlaneNode.AnchorOf(DataPlaneNode.Key(2)), anchor);
        Assert.Equal(0, node.Engine.GetStats().ActiveReservations);
    }

    [Fact]
    public async Task A_block_the_node_holds_answers_AlreadyPresent_and_its_new_bytes_are_discarded()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var original = await node.PutAsync(DataPlaneNode.Key(1), seed: 3);
        var other = Chunks(seed: 4);
        var fresh = Chunks(seed: 5);

        var statuses = await PutAsync(node, (DataPlaneNode.Key(1), other), (DataPlaneNode.Key(2), fresh));
        var (_, _, _, bytes) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2));

        Assert.Equal([FrameStatus.AlreadyPresent, FrameStatus.Ok], statuses);
        Assert.Equal([.. original[0], .. fresh[0], .. original[1], .. fresh[1]], bytes);
    }

    [Fact]
    public async Task A_chunk_that_does_not_match_its_declared_checksum_is_answered_Corrupt_and_nothing_of_its_block_is_committed()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var damaged = Chunks(seed: 6);
        var good = Chunks(seed: 7);
        var declared = Declarations(damaged);
        damaged[1][100] ^= 0x40; // changed after its checksum was declared: corrupted on the way

        var statuses = await PutAsync(node, [(DataPlaneNode.Key(1), damaged, declared), (DataPlaneNode.Key(2), good, Declarations(good))]);
        var (_, read, _, _) = await node.ReadBlocksAsync(Ns, 0, 2, DataPlaneNode.Key(1), DataPlaneNode.Key(2));

        Assert.Equal([FrameStatus.Corrupt, FrameStatus.Ok], statuses);
        Assert.False(node.Engine.Contains(new BlockId(Ns, DataPlaneNode.Key(1))));
        Assert.Equal([FrameStatus.NotFound, FrameStatus.Ok], read);
        Assert.Equal(0, node.Engine.GetStats().ActiveReservations);
    }

    [Fact]
    public async Task A_block_of_the_wrong_shape_is_refused_and_the_blocks_after_it_are_still_stored()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var single = new[] { Chunks(seed: 8)[0] };
        var good = Chunks(seed: 9);

        var statuses = await PutAsync(node, [(DataPlaneNode.Key(1), single, Declarations(single)), (DataPlaneNode.Key(2), good, Declarations(good))]);

        Assert.Equal([FrameStatus.BadRequest, FrameStatus.Ok], statuses);
        Assert.False(node.Engine.Contains(new BlockId(Ns, DataPlaneNode.Key(1))));
        Assert.True(node.Engine.Contains(new BlockId(Ns, DataPlaneNode.Key(2))));
    }

    [Fact]
    public async Task An_unregistered_namespace_or_a_draining_node_refuses_the_whole_request_and_keeps_the_connection()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = Chunks(seed: 10);

        var (unknown, _) = await node.SendAsync(Opcode.PutBlocks, Body(new NamespaceId(Ns.Value + 1), [(DataPlaneNode.Key(1), chunks, Declarations(chunks))]));
        node.Handler.StartDraining();
        var (draining, _) = await node.SendAsync(Opcode.PutBlocks, Body(Ns, [(DataPlaneNode.Key(1), chunks, Declarations(chunks))]));
        var (ping, _) = await node.SendAsync(Opcode.Ping, []);

        Assert.Equal(FrameStatus.UnknownNamespace, unknown.Status);
        Assert.Equal(FrameStatus.Draining, draining.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
        Assert.False(node.Engine.Contains(new BlockId(Ns, DataPlaneNode.Key(1))));
    }

    public static TheoryData<string> MalformedBodies => ["short payload", "long payload", "declarations past the body", "too many blocks",
        "zero chunks", "oversized chunk", "truncated prefix", "declaration bytes disagree"];

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task A_malformed_body_is_answered_BadRequest_nothing_is_stored_and_the_connection_keeps_serving(string flaw)
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = Chunks(seed: 11);
        var body = Body(Ns, [(DataPlaneNode.Key(1), chunks, Declarations(chunks))]);
        var declarationBytes = BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(12));
        var firstChunk = PutBlocksRequest.PrefixSize + BlockDeclarations.BlockHeadSize;
        body = flaw switch
        {
            "short payload" => body[..^1],
            "long payload" => [.. body, 0],
            "declarations past the body" => WithInt32(body, 12, body.Length),
            "too many blocks" => WithInt32(body, 8, 1_000_000),
            "zero chunks" => WithUInt16(body, firstChunk - 2, 0),
            "oversized chunk" => WithInt32(body, firstChunk, int.MaxValue),
            "truncated prefix" => body[..10],
            "declaration bytes disagree" => WithInt32(body, 12, declarationBytes + 12),
            _ => throw new ArgumentOutOfRangeException(nameof(flaw), flaw, null),
        };

        var (header, _) = await node.SendAsync(Opcode.PutBlocks, body);
        var (ping, _) = await node.SendAsync(Opcode.Ping, []);
        var again = await PutAsync(node, (DataPlaneNode.Key(1), chunks));

        Assert.Equal(FrameStatus.BadRequest, header.Status);
        Assert.Equal(FrameStatus.Ok, ping.Status);
        Assert.Equal([FrameStatus.Ok], again);
        Assert.Equal(0, node.Server.ProtocolViolations);
        Assert.Equal(0, node.Engine.GetStats().ActiveReservations);
    }

    [Fact]
    public async Task A_connection_that_ends_inside_the_payload_leaves_nothing_reserved_and_the_node_keeps_serving()
    {
        await using var node = await DataPlaneNode.StartAsync();
        var chunks = Chunks(seed: 12);
        var body = Body(Ns, [(DataPlaneNode.Key(1), chunks, Declarations(chunks))]);
        var frame = new byte[FrameHeader.Size + body.Length];
        new FrameHeader(Opcode.PutBlocks, FrameFlags.None, FrameStatus.Ok, 1, body.Length).WriteTo(frame);
        body.CopyTo(frame, FrameHeader.Size);

        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(node.Server.LocalEndPoint, TestContext.Current.CancellationToken);
            await socket.SendAsync(frame.AsMemory(0, frame.Length - 100), TestContext.Current.CancellationToken);
            await WaitUntilAsync(() => node.Engine.GetStats().ActiveReservations == 1);
        }

        await WaitUntilAsync(() => node.Server.OpenConnections == 1); // the half-sent request's connection is done
        var again = await PutAsync(node, (DataPlaneNode.Key(1), chunks));

        Assert.Equal([FrameStatus.Ok], again); // a reservation left behind would answer Busy
        Assert.Equal(0, node.Engine.GetStats().ActiveReservations);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        while (!condition())
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    private static byte[][] Chunks(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, DataPlaneNode.Namespace.Layout.Layers).Select(_ =>
        {
            var chunk = new byte[DataPlaneNode.Namespace.Layout.BytesPerLayerChunk];
            random.NextBytes(chunk);
            return chunk;
        })];
    }

    private static ChunkDeclaration[] Declarations(byte[][] chunks) =>
        [.. chunks.Select(c => new ChunkDeclaration(c.Length, XxHash3.HashToUInt64(c)))];

    private static Task<FrameStatus[]> PutAsync(DataPlaneNode node, params (BlockKey Key, byte[][] Chunks)[] blocks) =>
        PutAsync(node, [.. blocks.Select(b => (b.Key, b.Chunks, Declarations(b.Chunks)))]);

    private static async Task<FrameStatus[]> PutAsync(DataPlaneNode node, (BlockKey Key, byte[][] Chunks, ChunkDeclaration[] Declared)[] blocks)
    {
        var (header, response) = await node.SendAsync(Opcode.PutBlocks, Body(Ns, blocks));
        Assert.Equal(FrameStatus.Ok, header.Status);
        var statuses = new FrameStatus[blocks.Length];
        var reader = new BodyReader(response);
        StatusBatch.Read(ref reader, blocks.Length, statuses);
        reader.EnsureFullyRead("PutBlocks answer");
        return statuses;
    }

    private static byte[] Body(NamespaceId ns, (BlockKey Key, byte[][] Chunks, ChunkDeclaration[] Declared)[] blocks)
    {
        var declarations = new List<ChunkDeclaration>();
        var toPut = new List<BlockToReserve>();
        foreach (var (key, _, declared) in blocks)
        {
            toPut.Add(new BlockToReserve(key, DataPlaneNode.AnchorOf(key), declarations.Count, declared.Length));
            declarations.AddRange(declared);
        }

        var head = new byte[PutBlocksRequest.MeasureHead(toPut.Count, declarations.Count)];
        var length = PutBlocksRequest.WriteHead(head, ns, [.. toPut], [.. declarations]);
        Assert.Equal(head.Length, length);
        return [.. head, .. blocks.SelectMany(b => b.Chunks).SelectMany(c => c)];
    }

    private static byte[] WithInt32(byte[] body, int offset, int value)
    {
        var copy = body.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(offset), value);
        return copy;
    }

    private static byte[] WithUInt16(byte[] body, int offset, ushort value)
    {
        var copy = body.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(offset), value);
        return copy;
    }
}
