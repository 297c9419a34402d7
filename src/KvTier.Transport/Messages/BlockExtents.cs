namespace KvTier.Transport.Messages;

/// <summary>One block's entry in a lease or reservation response: its status, the lease or reservation id, and
/// which of the response's extents are its chunks.</summary>
/// <param name="Status">Per-block outcome; extents are present only when <see cref="FrameStatus.Ok"/>.</param>
/// <param name="Handle">Lease id (lease responses) or reservation id (reserve responses).</param>
/// <param name="FirstExtent">Index of the block's first chunk extent in the extents array.</param>
/// <param name="ExtentCount">Number of chunk extents.</param>
public readonly record struct BlockExtents(FrameStatus Status, ulong Handle, int FirstExtent, int ExtentCount)
{
    /// <summary>Bytes of an entry head on the wire (status u16, extent count u16, handle u64).</summary>
    public const int WireHeadSize = 12;
}

/// <summary>Wire form shared by the lease and reserve responses:
/// <c>block count u32 | per block: status u16, extent count u16, handle u64, extents[count]</c>.</summary>
public static class BlockExtentsResponse
{
    /// <summary>Exact body size for <paramref name="blockCount"/> blocks holding <paramref name="extentCount"/>
    /// extents in all.</summary>
    public static int MeasureBody(int blockCount, int extentCount) =>
        4 + (blockCount * BlockExtents.WireHeadSize) + (extentCount * ChunkExtent.WireSize);

    /// <summary>Writes the block count; follow with one <see cref="WriteBlock"/> per block.</summary>
    public static void WriteCount(ref BodyWriter writer, int blockCount) => writer.WriteInt32(blockCount);

    /// <summary>Writes one block's entry.</summary>
    public static void WriteBlock(ref BodyWriter writer, FrameStatus status, ulong handle, ReadOnlySpan<ChunkExtent> extents)
    {
        writer.WriteUInt16((ushort)status);
        writer.WriteUInt16(checked((ushort)extents.Length));
        writer.WriteUInt64(handle);
        foreach (var extent in extents)
        {
            writer.WriteUInt64(extent.Offset);
            writer.WriteInt32(extent.Length);
            writer.WriteUInt64(extent.Checksum);
        }
    }

    /// <summary>Parses a response into caller-provided arrays (no allocation); returns the block count. Every block
    /// must be answered: the count must equal <paramref name="expectedBlocks"/>.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed, breaks a limit, or does not fit.</exception>
    public static int Read(ReadOnlySpan<byte> body, FrameLimits limits, int expectedBlocks, Span<BlockExtents> blocks,
        Span<ChunkExtent> extents, out int extentCount)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        var count = reader.ReadCount("block count", limits.MaxBlocksPerRequest);
        if (count != expectedBlocks || count > blocks.Length)
        {
            throw new ProtocolViolationException($"Response answers {count} blocks; the request asked for {expectedBlocks}.");
        }

        extentCount = 0;
        for (var i = 0; i < count; i++)
        {
            var status = (FrameStatus)reader.ReadUInt16("block status");
            if (!Enum.IsDefined(status))
            {
                throw new ProtocolViolationException($"Unknown block status {(ushort)status}.");
            }

            var chunks = reader.ReadUInt16("extent count");
            if (chunks > limits.MaxChunksPerBlock || (status != FrameStatus.Ok && chunks != 0))
            {
                throw new ProtocolViolationException($"Block {i} has {chunks} extents with status {status}.");
            }

            var handle = reader.ReadUInt64("handle");
            if (extentCount + chunks > extents.Length)
            {
                throw new ProtocolViolationException($"Response holds more extents than the {extents.Length} expected.");
            }

            blocks[i] = new BlockExtents(status, handle, extentCount, chunks);
            for (var c = 0; c < chunks; c++)
            {
                var offset = reader.ReadUInt64("extent offset");
                var length = reader.ReadInt32("extent length");
                if (length < 0 || length > limits.MaxChunkBytes)
                {
                    throw new ProtocolViolationException($"Extent length {length} is outside [0, {limits.MaxChunkBytes}].");
                }

                extents[extentCount++] = new ChunkExtent(offset, length, reader.ReadUInt64("extent checksum"));
            }
        }

        reader.EnsureFullyRead("extents response");
        return count;
    }
}
