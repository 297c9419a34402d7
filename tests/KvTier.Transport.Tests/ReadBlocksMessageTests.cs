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

public class ReadBlocksSplitMessageTests
{
    private static readonly FrameLimits Limits = FrameLimits.Default;
    private static readonly BlockKey[] Keys = [new(1, 2), new(3, 4), new(5, 6)];

    /// <summary>Three blocks of two layers with 4-byte chunk heads: Ok, NotFound, Ok (one chunk shorter than its head).</summary>
    private static byte[] SplitHead(out FrameStatus[] statuses, out ChunkDeclaration[] chunks)
    {
        statuses = [FrameStatus.Ok, FrameStatus.NotFound, FrameStatus.Ok];
        chunks = [new(100, 11), new(200, 12), default, default, new(3, 31), new(400, 32)];
        var head = new byte[ReadBlocksResponse.MeasureSplitHead(3, 2, 4)];
        var writer = new BodyWriter(head);
        ReadBlocksResponse.WriteSplitHead(ref writer, 2, 4, statuses, chunks);
        Assert.Equal(head.Length, writer.Written);
        foreach (var chunk in new[] { 0, 1, 4, 5 })
        {
            ReadBlocksResponse.SplitChunkHead(head.AsSpan(), 3, 4, chunk).Fill((byte)(chunk + 1));
        }

        return head;
    }

    [Fact]
    public void Split_requests_round_trip_with_their_chunk_head_size()
    {
        var body = new byte[ReadBlocksRequest.MeasureSplitBody(Keys.Length)];
        Assert.Equal(body.Length, ReadBlocksRequest.WriteSplit(body, new NamespaceId(77), 1, 2, 32, Keys));

        var request = ReadBlocksRequest.ReadSplit(body, Limits);

        Assert.Equal(77UL, BinaryPrimitives.ReadUInt64LittleEndian(body));
        Assert.Equal((new NamespaceId(77), 1, 2, 32, 3), (request.Namespace, request.FirstLayer, request.LayerCount, request.ChunkHeadBytes, request.Keys.Count));
    }

    [Fact]
    public void A_split_request_with_too_large_chunk_heads_or_reserved_bits_is_refused_by_name()
    {
        var body = new byte[ReadBlocksRequest.MeasureSplitBody(Keys.Length)];
        ReadBlocksRequest.WriteSplit(body, new NamespaceId(77), 0, 1, 32, Keys);
        var large = (byte[])body.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(large.AsSpan(12), ReadBlocksRequest.MaxChunkHeadBytes + 1);
        var reserved = (byte[])body.Clone();
        reserved[14] = 1;

        Assert.Contains("chunk head bytes 1025", Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.ReadSplit(large, Limits)).Message,
            StringComparison.Ordinal);
        Assert.Contains("reserved", Assert.Throws<ProtocolViolationException>(() => ReadBlocksRequest.ReadSplit(reserved, Limits)).Message,
            StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReadBlocksRequest.WriteSplit(body, new NamespaceId(77), 0, 1, 1025, Keys));
    }

    [Fact]
    public void Split_heads_round_trip_and_announce_only_the_bytes_after_each_chunk_head()
    {
        var head = SplitHead(out var statuses, out var chunks);
        var readStatuses = new FrameStatus[3];
        var readChunks = new ChunkDeclaration[6];

        var payload = ReadBlocksResponse.ReadSplitHead(head, Limits, 3, 2, 4, readStatuses, readChunks);

        // 100 + 200 + 3 + 400 chunk bytes, less 4 head bytes per chunk (3 for the 3-byte chunk).
        Assert.Equal(703 - 15, payload);
        Assert.Equal(statuses, readStatuses);
        Assert.Equal(chunks, readChunks);
        Assert.Equal([6, 6, 6, 6], ReadBlocksResponse.SplitChunkHead((ReadOnlySpan<byte>)head, 3, 4, 5).ToArray());
        Assert.Equal([0, 0, 0, 0], ReadBlocksResponse.SplitChunkHead((ReadOnlySpan<byte>)head, 3, 4, 2).ToArray());
    }

    [Fact]
    public void A_split_head_with_another_head_size_or_head_bytes_for_a_missing_block_is_refused()
    {
        var head = SplitHead(out _, out _);
        var bytesForMissing = (byte[])head.Clone();
        ReadBlocksResponse.SplitChunkHead(bytesForMissing.AsSpan(), 3, 4, 3)[0] = 1;

        Assert.Contains("4-byte chunk heads", Assert.Throws<ProtocolViolationException>(() =>
            ReadBlocksResponse.ReadSplitHead(head, Limits, 3, 2, 8, new FrameStatus[3], new ChunkDeclaration[6])).Message, StringComparison.Ordinal);
        Assert.Contains("head bytes", Assert.Throws<ProtocolViolationException>(() =>
            ReadBlocksResponse.ReadSplitHead(bytesForMissing, Limits, 3, 2, 4, new FrameStatus[3], new ChunkDeclaration[6])).Message, StringComparison.Ordinal);
        Assert.Throws<ProtocolViolationException>(() =>
            ReadBlocksResponse.ReadSplitHead(head, new FrameLimits { MaxBodyBytes = 700 }, 3, 2, 4, new FrameStatus[3], new ChunkDeclaration[6]));
    }
}
