namespace KvTier.Transport.Messages;

/// <summary>
/// Answer to <see cref="ReadBlocksRequest"/>: a fixed-size head, then the chunk bytes.
/// <c>block count u32 | layer count u16 | reserved u16 | status u16 per block | per block, per layer: length u32,
/// checksum u64 (zero for a block that is not Ok) | the chunks of the Ok blocks, layer-major (layer 0 of every Ok
/// block in request order, then layer 1, ...)</c>. The head's size follows from the request alone, so a client reads
/// it in one piece and knows exactly how many bytes follow. There are no arena offsets: nothing is fetched by address
/// (that is LeaseBlocks' job); the checksums are the node's XXH3-64 of each chunk, verified by the node before it sent
/// the bytes.
/// <para>The split layout (<see cref="Opcode.ReadBlocksSplit"/>) puts each chunk's first H bytes (H from the request)
/// in the head and sends only the rest: <c>block count u32 | layer count u16 | chunk head bytes u16 | status u16 per
/// block | per block, per layer: length u32, checksum u64, the chunk's first H bytes (zero-padded past a shorter
/// chunk; zeros for a block that is not Ok) | the rest of each Ok chunk (length - min(H, length) bytes), layer-major
/// </c>. The payloads of consecutive chunks are then back to back on the wire, so a client that puts them side by
/// side receives many with one socket read, straight into place.</para>
/// </summary>
public static class ReadBlocksResponse
{
    /// <summary>Exact size of the head for <paramref name="blockCount"/> blocks of <paramref name="layerCount"/> layers.</summary>
    public static int MeasureHead(int blockCount, int layerCount) => 8 + (blockCount * 2) + (blockCount * layerCount * 12);

    /// <summary>Exact size of a split answer's head.</summary>
    public static int MeasureSplitHead(int blockCount, int layerCount, int chunkHeadBytes) =>
        checked(8 + (blockCount * 2) + (blockCount * layerCount * (12 + chunkHeadBytes)));

    /// <summary>The <paramref name="chunkHeadBytes"/> bytes of a split head that hold chunk <paramref name="chunk"/>'s
    /// first bytes (chunks numbered block-major: <c>block * layerCount + layer</c>).</summary>
    public static Span<byte> SplitChunkHead(Span<byte> head, int blockCount, int chunkHeadBytes, int chunk) =>
        head.Slice(8 + (blockCount * 2) + (chunk * (12 + chunkHeadBytes)) + 12, chunkHeadBytes);

    /// <inheritdoc cref="SplitChunkHead(Span{byte}, int, int, int)"/>
    public static ReadOnlySpan<byte> SplitChunkHead(ReadOnlySpan<byte> head, int blockCount, int chunkHeadBytes, int chunk) =>
        head.Slice(8 + (blockCount * 2) + (chunk * (12 + chunkHeadBytes)) + 12, chunkHeadBytes);

    /// <summary>Writes a split head with every chunk's head bytes zeroed; the caller then copies each Ok chunk's first
    /// bytes into <see cref="SplitChunkHead(Span{byte}, int, int, int)"/>.</summary>
    public static void WriteSplitHead(ref BodyWriter writer, int layerCount, int chunkHeadBytes, ReadOnlySpan<FrameStatus> statuses,
        ReadOnlySpan<ChunkDeclaration> chunks)
    {
        if (chunks.Length != statuses.Length * layerCount)
        {
            throw new ArgumentException($"{statuses.Length} blocks of {layerCount} layers need {statuses.Length * layerCount} chunk entries, got {chunks.Length}.", nameof(chunks));
        }

        writer.WriteInt32(statuses.Length);
        writer.WriteUInt16(checked((ushort)layerCount));
        writer.WriteUInt16(checked((ushort)chunkHeadBytes));
        foreach (var status in statuses)
        {
            writer.WriteUInt16((ushort)status);
        }

        foreach (var chunk in chunks)
        {
            writer.WriteInt32(chunk.Length);
            writer.WriteUInt64(chunk.Checksum);
            writer.Reserve(chunkHeadBytes).Clear();
        }
    }

    /// <summary>
    /// Parses a split head read in one piece (exactly <see cref="MeasureSplitHead"/> bytes) into caller-provided spans
    /// and returns how many payload bytes follow it; each chunk's first bytes stay in the head
    /// (<see cref="SplitChunkHead(ReadOnlySpan{byte}, int, int, int)"/>).
    /// </summary>
    /// <exception cref="ProtocolViolationException">As <see cref="ReadHead"/>, or the head's chunk head size is not the
    /// one asked for.</exception>
    public static long ReadSplitHead(ReadOnlySpan<byte> head, FrameLimits limits, int expectedBlocks, int expectedLayers, int expectedHeadBytes,
        Span<FrameStatus> statuses, Span<ChunkDeclaration> chunks)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(head);
        var count = reader.ReadCount("block count", limits.MaxBlocksPerRequest);
        var layers = reader.ReadUInt16("layer count");
        var headBytes = reader.ReadUInt16("chunk head bytes");
        if (count != expectedBlocks || layers != expectedLayers || headBytes != expectedHeadBytes)
        {
            throw new ProtocolViolationException(
                $"ReadBlocksSplit answer covers {count} blocks x {layers} layers with {headBytes}-byte chunk heads; the request asked for {expectedBlocks} x {expectedLayers} with {expectedHeadBytes}.");
        }

        if (statuses.Length < count || chunks.Length < count * layers)
        {
            throw new ArgumentException($"Room for {statuses.Length} statuses and {chunks.Length} chunks; the answer has {count} x {layers}.");
        }

        ReadStatuses(ref reader, count, statuses);
        long payload = 0;
        for (var i = 0; i < count; i++)
        {
            for (var layer = 0; layer < layers; layer++)
            {
                var chunk = ReadChunk(ref reader, limits, i, layer, statuses[i]);
                var chunkHead = reader.ReadBytes(headBytes, "chunk head");
                if (statuses[i] != FrameStatus.Ok && chunkHead.ContainsAnyExcept((byte)0))
                {
                    throw new ProtocolViolationException($"Block {i} ({statuses[i]}) has head bytes for chunk {layer}.");
                }

                chunks[(i * layers) + layer] = chunk;
                payload += chunk.Length - Math.Min(chunk.Length, headBytes);
            }
        }

        reader.EnsureFullyRead("ReadBlocksSplit answer head");
        if (head.Length + payload > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"ReadBlocksSplit answer announces {head.Length + payload} bytes, over the {limits.MaxBodyBytes}-byte body limit.");
        }

        return payload;
    }

    /// <summary>Writes the head: one status per block and <c>statuses.Length * layerCount</c> chunk descriptions,
    /// block-major (zeros for blocks that are not Ok).</summary>
    public static void WriteHead(ref BodyWriter writer, int layerCount, ReadOnlySpan<FrameStatus> statuses, ReadOnlySpan<ChunkDeclaration> chunks)
    {
        if (chunks.Length != statuses.Length * layerCount)
        {
            throw new ArgumentException($"{statuses.Length} blocks of {layerCount} layers need {statuses.Length * layerCount} chunk entries, got {chunks.Length}.", nameof(chunks));
        }

        writer.WriteInt32(statuses.Length);
        writer.WriteUInt16(checked((ushort)layerCount));
        writer.WriteUInt16(0);
        foreach (var status in statuses)
        {
            writer.WriteUInt16((ushort)status);
        }

        foreach (var chunk in chunks)
        {
            writer.WriteInt32(chunk.Length);
            writer.WriteUInt64(chunk.Checksum);
        }
    }

    /// <summary>
    /// Parses a head read in one piece (exactly <see cref="MeasureHead"/> bytes for the request's block and layer
    /// counts) into caller-provided spans and returns how many chunk bytes follow it.
    /// </summary>
    /// <exception cref="ProtocolViolationException">The head answers another request, names an unknown status, has a
    /// chunk entry for a block that is not Ok or a chunk length outside the limits.</exception>
    public static long ReadHead(ReadOnlySpan<byte> head, FrameLimits limits, int expectedBlocks, int expectedLayers,
        Span<FrameStatus> statuses, Span<ChunkDeclaration> chunks)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(head);
        var count = reader.ReadCount("block count", limits.MaxBlocksPerRequest);
        var layers = reader.ReadUInt16("layer count");
        if (count != expectedBlocks || layers != expectedLayers)
        {
            throw new ProtocolViolationException(
                $"ReadBlocks answer covers {count} blocks x {layers} layers; the request asked for {expectedBlocks} x {expectedLayers}.");
        }

        if (statuses.Length < count || chunks.Length < count * layers)
        {
            throw new ArgumentException($"Room for {statuses.Length} statuses and {chunks.Length} chunks; the answer has {count} x {layers}.");
        }

        var reserved = reader.ReadUInt16("reserved");
        if (reserved != 0)
        {
            throw new ProtocolViolationException($"ReadBlocks answer has reserved bits 0x{reserved:x4} set.");
        }

        ReadStatuses(ref reader, count, statuses);
        long payload = 0;
        for (var i = 0; i < count; i++)
        {
            for (var layer = 0; layer < layers; layer++)
            {
                var chunk = ReadChunk(ref reader, limits, i, layer, statuses[i]);
                chunks[(i * layers) + layer] = chunk;
                payload += chunk.Length;
            }
        }

        reader.EnsureFullyRead("ReadBlocks answer head");
        if (head.Length + payload > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"ReadBlocks answer announces {head.Length + payload} bytes, over the {limits.MaxBodyBytes}-byte body limit.");
        }

        return payload;
    }

    private static void ReadStatuses(ref BodyReader reader, int count, Span<FrameStatus> statuses)
    {
        for (var i = 0; i < count; i++)
        {
            var status = (FrameStatus)reader.ReadUInt16("block status");
            statuses[i] = Enum.IsDefined(status) ? status : throw new ProtocolViolationException($"Unknown block status {(ushort)status}.");
        }
    }

    private static ChunkDeclaration ReadChunk(ref BodyReader reader, FrameLimits limits, int block, int layer, FrameStatus status)
    {
        var length = reader.ReadInt32("chunk length");
        var checksum = reader.ReadUInt64("chunk checksum");
        if (status == FrameStatus.Ok ? length <= 0 || length > limits.MaxChunkBytes : length != 0 || checksum != 0)
        {
            throw new ProtocolViolationException(
                $"Block {block} ({status}) has chunk {layer} of {length} bytes (an Ok block's chunks hold 1 to {limits.MaxChunkBytes}, other blocks' none).");
        }

        return new ChunkDeclaration(length, checksum);
    }
}
