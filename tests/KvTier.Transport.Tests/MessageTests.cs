using KvTier.Core;
using KvTier.Transport.Messages;

namespace KvTier.Transport.Tests;

public class MessageTests
{
    private static readonly FrameLimits Limits = FrameLimits.Default;
    private static readonly BlockKey[] Keys = [new(1, 2), new(3, 4), new(ulong.MaxValue, 0)];

    private static byte[] LeaseRequestBody()
    {
        var body = new byte[LeaseBlocksRequest.MeasureBody(Keys.Length)];
        Assert.Equal(body.Length, LeaseBlocksRequest.Write(body, new NamespaceId(42), 3, 5, 2000, Keys));
        return body;
    }

    private static byte[] ExtentsResponseBody()
    {
        ChunkExtent[] extents = [new(4096, 100, 7), new(8192, 200, 8)];
        var body = new byte[BlockExtentsResponse.MeasureBody(3, 2)];
        var writer = new BodyWriter(body);
        BlockExtentsResponse.WriteCount(ref writer, 3);
        BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.Ok, 11, extents);
        BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.NotFound, 0, []);
        BlockExtentsResponse.WriteBlock(ref writer, FrameStatus.Corrupt, 0, []);
        Assert.Equal(body.Length, writer.Written);
        return body;
    }

    private static byte[] ReserveRequestBody()
    {
        BlockToReserve[] blocks = [new(Keys[0], Keys[0], 0, 2), new(Keys[1], Keys[0], 2, 1)];
        ChunkDeclaration[] chunks = [new(10, 1), new(20, 2), new(30, 3)];
        var body = new byte[ReserveBlocksRequest.MeasureBody(2, 3)];
        Assert.Equal(body.Length, ReserveBlocksRequest.Write(body, new NamespaceId(9), 5000, blocks, chunks));
        return body;
    }

    [Fact]
    public void Lease_requests_round_trip()
    {
        var request = LeaseBlocksRequest.Read(LeaseRequestBody(), Limits);
        Assert.Equal(new NamespaceId(42), request.Namespace);
        Assert.Equal((3, 5, 2000), (request.FirstLayer, request.LayerCount, request.LeaseMilliseconds));
        Assert.Equal(Keys.Length, request.Keys.Count);
        for (var i = 0; i < Keys.Length; i++)
        {
            Assert.Equal(Keys[i], request.Keys[i]);
        }
    }

    [Fact]
    public void Extent_responses_round_trip_with_per_block_statuses()
    {
        var blocks = new BlockExtents[3];
        var extents = new ChunkExtent[8];
        var count = BlockExtentsResponse.Read(ExtentsResponseBody(), Limits, 3, blocks, extents, out var extentCount);

        Assert.Equal(3, count);
        Assert.Equal(2, extentCount);
        Assert.Equal(new BlockExtents(FrameStatus.Ok, 11, 0, 2), blocks[0]);
        Assert.Equal(FrameStatus.NotFound, blocks[1].Status);
        Assert.Equal(FrameStatus.Corrupt, blocks[2].Status);
        Assert.Equal(new ChunkExtent(8192, 200, 8), extents[1]);
    }

    [Fact]
    public void A_response_that_answers_a_different_number_of_blocks_is_rejected()
    {
        var error = Assert.Throws<ProtocolViolationException>(() =>
            BlockExtentsResponse.Read(ExtentsResponseBody(), Limits, 2, new BlockExtents[3], new ChunkExtent[8], out _));
        Assert.Contains("asked for 2", error.Message);
    }

    [Fact]
    public void Reserve_requests_round_trip()
    {
        var blocks = new BlockToReserve[4];
        var chunks = new ChunkDeclaration[8];
        var count = ReserveBlocksRequest.Read(ReserveRequestBody(), Limits, out var kvNamespace, out var timeout, blocks, chunks, out var chunkCount);

        Assert.Equal((2, 3, 9ul, 5000), (count, chunkCount, kvNamespace.Value, timeout));
        Assert.Equal(new BlockToReserve(Keys[1], Keys[0], 2, 1), blocks[1]);
        Assert.Equal(new ChunkDeclaration(30, 3), chunks[2]);
    }

    [Fact]
    public void Extent_lists_round_trip_and_their_total_is_bounded()
    {
        ExtentIo[] extents = [new(1, 0, 10), new(2, 4096, 20)];
        var body = new byte[ExtentIoRequest.MeasureHead(2)];
        var writer = new BodyWriter(body);
        ExtentIoRequest.WriteHead(ref writer, extents);

        var reader = new BodyReader(body);
        var parsed = new ExtentIo[4];
        Assert.Equal(2, ExtentIoRequest.ReadHead(ref reader, Limits, parsed, out var total));
        Assert.Equal(30, total);
        Assert.Equal(extents, parsed[..2]);

        var tight = new FrameLimits { MaxBodyBytes = 25 };
        var error = Assert.Throws<ProtocolViolationException>(() =>
        {
            var again = new BodyReader(body);
            ExtentIoRequest.ReadHead(ref again, tight, parsed, out _);
        });
        Assert.Contains("30 bytes", error.Message);
    }

    [Fact]
    public void Status_and_handle_batches_round_trip()
    {
        FrameStatus[] statuses = [FrameStatus.Ok, FrameStatus.Expired];
        var body = new byte[StatusBatch.MeasureBody(2)];
        var writer = new BodyWriter(body);
        StatusBatch.Write(ref writer, statuses);
        var reader = new BodyReader(body);
        var parsed = new FrameStatus[2];
        StatusBatch.Read(ref reader, 2, parsed);
        Assert.Equal(statuses, parsed);

        var handleBody = new byte[HandleBatch.MeasureBody(3)];
        HandleBatch.Write(handleBody, [5, 6, 7]);
        var handles = new ulong[3];
        Assert.Equal(3, HandleBatch.Read(handleBody, Limits, handles));
        Assert.Equal([5ul, 6, 7], handles);
    }

    [Fact]
    public void Contains_requests_round_trip()
    {
        var body = new byte[ContainsBlocksRequest.MeasureBody(Keys.Length)];
        ContainsBlocksRequest.Write(body, new NamespaceId(3), Keys);
        var keys = ContainsBlocksRequest.Read(body, Limits, out var kvNamespace);
        Assert.Equal(3ul, kvNamespace.Value);
        Assert.Equal(Keys[2], keys[2]);
    }

    [Fact]
    public void Oversized_counts_are_rejected_before_use()
    {
        var body = LeaseRequestBody();
        var small = new FrameLimits { MaxBlocksPerRequest = 2 };
        var error = Assert.Throws<ProtocolViolationException>(() => LeaseBlocksRequest.Read(body, small));
        Assert.Contains("block count is 3, over the limit of 2", error.Message);
    }

    public static TheoryData<string> Encodings => ["lease", "extents", "reserve"];

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Truncated_or_mutated_bodies_fail_only_with_protocol_violations(string kind)
    {
        var valid = kind switch { "lease" => LeaseRequestBody(), "extents" => ExtentsResponseBody(), _ => ReserveRequestBody() };
        var random = new Random(kind.Length);
        for (var round = 0; round < 5_000; round++)
        {
            var body = round < valid.Length ? valid[..round] : (byte[])valid.Clone();
            if (round >= valid.Length)
            {
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                {
                    body[random.Next(body.Length)] = (byte)random.Next(256);
                }
            }

            try
            {
                Parse(kind, body);
            }
            catch (ProtocolViolationException)
            {
            }
        }
    }

    private static void Parse(string kind, byte[] body)
    {
        switch (kind)
        {
            case "lease":
                _ = LeaseBlocksRequest.Read(body, Limits);
                break;
            case "extents":
                BlockExtentsResponse.Read(body, Limits, 3, new BlockExtents[3], new ChunkExtent[16], out _);
                break;
            default:
                ReserveBlocksRequest.Read(body, Limits, out _, out _, new BlockToReserve[8], new ChunkDeclaration[16], out _);
                break;
        }
    }
}
