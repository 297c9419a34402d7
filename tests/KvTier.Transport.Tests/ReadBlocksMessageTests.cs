using System.Buffers.Binary;
using KvTier.Core;
using KvTier.Transport.Messages;

namespace KvTier.Transport.Tests;

public class ReadBlocksMessageTests
{
    private static readonly FrameLimits Limits = FrameLimits.Default;
    private static readonly BlockKey[] Keys = [new(1, 2), new(3, 4), new(5, 6)];

    private static byte[] RequestBody(int firstLayer = 2, int layerCount = 3)
    {
        var body = new byte[ReadBlocksRequest.MeasureBody(Keys.Length)];
        Assert.Equal(body.Length, ReadBlocksRequest.Write(body, new NamespaceId(77), firstLayer, layerCount, Keys));
        return body;
    }

    /// <summary>Three blocks of two layers: Ok, NotFound, Ok.</summary>
    private static byte[] ResponseHead(out FrameStatus[] statuses, out ChunkDeclaration[] chunks)
    {
        statuses = [FrameStatus.Ok, FrameStatus.NotFound, FrameStatus.Ok];
        chunks = [new(100, 11), new(200, 12), default, default, new(300, 31), new(400, 32)];
        var head = new byte[ReadBlocksResponse.MeasureHead(3, 2)];
        var writer = new BodyWriter(head);
        ReadBlocksResponse.WriteHead(ref writer, 2, statuses, chunks);
        Assert.Equal(head.Length, writer.Written);
        return head;
    }

    [Fact]
    public void Requests_round_trip_with_the_namespace_first()
    {
        var body = RequestBody();
        var request = ReadBlocksRequest.Read(body, Limits);

        Assert.Equal(77UL, BinaryPrimitives.ReadUInt64LittleEndian(body));
        Assert.Equal((new NamespaceId(77), 2, 3), (request.Namespace, request.FirstLayer, request.LayerCount));
        var keys = new BlockKey[request.Keys.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = request.Keys[i];
        }

        Assert.Equal(Keys, keys);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1025)]
    public void A_layer_count_of_zero_or_over_the_limit_is_refused_by_name(int layers)
    {
        var body = RequestBody(layerCount: layers);

        var error = Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.Read(body, Limits));

        Assert.Contains($"layer count {layers}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_oversized_and_padded_requests_are_refused()
    {
        var body = RequestBody();
        var oversized = (byte[])body.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(oversized.AsSpan(12), uint.MaxValue);

        Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.Read(body.AsSpan(0, body.Length - 1), Limits));
        Assert.Contains("over the limit", Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.Read(oversized, Limits)).Message,
            StringComparison.Ordinal);
        Assert.Contains("trailing", Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.Read([.. body, 0], Limits)).Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Response_heads_round_trip_and_announce_the_bytes_that_follow()
    {
        var head = ResponseHead(out var statuses, out var chunks);
        var readStatuses = new FrameStatus[3];
        var readChunks = new ChunkDeclaration[6];

        var payload = ReadBlocksResponse.ReadHead(head, Limits, 3, 2, readStatuses, readChunks);

        Assert.Equal(1000, payload);
        Assert.Equal(statuses, readStatuses);
        Assert.Equal(chunks, readChunks);
    }

    [Fact]
    public void A_head_that_answers_another_request_is_refused()
    {
        var head = ResponseHead(out _, out _);

        Assert.Throws<ProtocolViolationException>(() => ReadBlocksResponse.ReadHead(head, Limits, 4, 2, new FrameStatus[4], new ChunkDeclaration[8]));
        Assert.Throws<ProtocolViolationException>(() => ReadBlocksResponse.ReadHead(head, Limits, 3, 1, new FrameStatus[3], new ChunkDeclaration[6]));
    }

    [Fact]
    public void Chunks_for_a_missing_block_unknown_statuses_and_oversized_chunks_are_refused()
    {
        var head = ResponseHead(out _, out _);
        var statusesAt = 8;
        var chunksAt = statusesAt + 6;
        var bytesForMissing = (byte[])head.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bytesForMissing.AsSpan(chunksAt + (2 * 12)), 5);
        var unknownStatus = (byte[])head.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(unknownStatus.AsSpan(statusesAt), 999);
        var oversized = (byte[])head.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(oversized.AsSpan(chunksAt), Limits.MaxChunkBytes + 1);
        var emptyChunk = (byte[])head.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(emptyChunk.AsSpan(chunksAt), 0);

        foreach (var bad in new[] { bytesForMissing, unknownStatus, oversized, emptyChunk })
        {
            Assert.Throws<ProtocolViolationException>(() => ReadBlocksResponse.ReadHead(bad, Limits, 3, 2, new FrameStatus[3], new ChunkDeclaration[6]));
        }
    }

    [Fact]
    public void A_head_announcing_more_than_a_body_may_hold_is_refused()
    {
        var head = ResponseHead(out _, out _);
        var small = new FrameLimits { MaxBodyBytes = 900 };

        var error = Assert.Throws<ProtocolViolationException>(() => ReadBlocksResponse.ReadHead(head, small, 3, 2, new FrameStatus[3], new ChunkDeclaration[6]));

        Assert.Contains("900-byte body limit", error.Message, StringComparison.Ordinal);
    }
}
