using System.Buffers.Binary;
using KvTier.Core;
using KvTier.Transport.Messages;

namespace KvTier.Transport.Tests;

public class PutBlocksMessageTests
{
    private static readonly FrameLimits Limits = FrameLimits.Default;
    private static readonly BlockToReserve[] Blocks = [new(new BlockKey(1, 2), new BlockKey(1, 1), 0, 2), new(new BlockKey(3, 4), new BlockKey(1, 1), 2, 1)];
    private static readonly ChunkDeclaration[] Chunks = [new(100, 11), new(200, 12), new(300, 13)];

    private static byte[] Head()
    {
        var head = new byte[PutBlocksRequest.MeasureHead(Blocks.Length, Chunks.Length)];
        Assert.Equal(head.Length, PutBlocksRequest.WriteHead(head, new NamespaceId(77), Blocks, Chunks));
        return head;
    }

    [Fact]
    public void The_head_round_trips_with_the_namespace_first_and_declares_the_payload_length()
    {
        var head = Head();

        PutBlocksRequest.ReadPrefix(head, Limits, head.Length + 600, out var ns, out var count, out var declarationBytes);
        var blocks = new BlockToReserve[count];
        var chunks = new ChunkDeclaration[Chunks.Length];
        var payload = PutBlocksRequest.ReadDeclarations(head.AsSpan(PutBlocksRequest.PrefixSize, declarationBytes), Limits, count, blocks, chunks,
            out var chunkCount);

        Assert.True(NamespaceScopedOpcodes.TryRead(Opcode.PutBlocks, head, out var scoped));
        Assert.Equal(new NamespaceId(77), scoped);
        Assert.Equal((new NamespaceId(77), 2, head.Length - PutBlocksRequest.PrefixSize), (ns, count, declarationBytes));
        Assert.Equal(Blocks, blocks);
        Assert.Equal(Chunks, chunks);
        Assert.Equal((3, 600L), (chunkCount, payload));
    }

    [Theory]
    [InlineData(4097, 100, "block count")]
    [InlineData(2, 10, "declaration bytes")]
    [InlineData(2, 1 << 30, "declaration bytes")]
    public void A_prefix_whose_counts_break_the_limits_is_refused_naming_the_field(int blocks, int declarationBytes, string field)
    {
        var prefix = new byte[PutBlocksRequest.PrefixSize];
        BinaryPrimitives.WriteInt32LittleEndian(prefix.AsSpan(8), blocks);
        BinaryPrimitives.WriteInt32LittleEndian(prefix.AsSpan(12), declarationBytes);

        var error = Assert.Throws<ProtocolViolationException>(() => PutBlocksRequest.ReadPrefix(prefix, Limits, int.MaxValue, out _, out _, out _));

        Assert.Contains(field, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Declarations_longer_than_the_body_are_refused()
    {
        var head = Head();

        var error = Assert.Throws<ProtocolViolationException>(() => PutBlocksRequest.ReadPrefix(head, Limits, head.Length - 1, out _, out _, out _));

        Assert.Contains("do not fit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Trailing_bytes_after_the_declarations_are_refused()
    {
        byte[] head = [.. Head(), 0];

        var error = Assert.Throws<ProtocolViolationException>(() => PutBlocksRequest.ReadDeclarations(head.AsSpan(PutBlocksRequest.PrefixSize), Limits, 2,
            new BlockToReserve[2], new ChunkDeclaration[3], out _));

        Assert.Contains("trailing", error.Message, StringComparison.Ordinal);
    }
}
