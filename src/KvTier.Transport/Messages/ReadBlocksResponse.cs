namespace KvTier.Transport.Messages;

/// <summary>
/// Answer to <see cref="ReadBlocksRequest"/>: a fixed-size head, then the chunk bytes.
/// <c>block count u32 | layer count u16 | reserved u16 | status u16 per block | per block, per layer: length u32,
/// checksum u64 (zero for a block that is not Ok) | the chunks of the Ok blocks, layer-major (layer 0 of every Ok
/// block in request order, then layer 1, ...)</c>. The head's size follows from the request alone, so a client reads
/// it in one piece and knows exactly how many bytes follow. There are no arena offsets: nothing is fetched by address
/// (that is LeaseBlocks' job); the checksums are the node's XXH3-64 of each chunk, verified by the node before it sent
/// the bytes.
/// </summary>
public static class ReadBlocksResponse
{
    /// <summary>Exact size of the head for <paramref name="blockCount"/> blocks of <paramref name="layerCount"/> layers.</summary>
    public static int MeasureHead(int blockCount, int layerCount) => 8 + (blockCount * 2) + (blockCount * layerCount * 12);

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

        for (var i = 0; i < count; i++)
        {
            var status = (FrameStatus)reader.ReadUInt16("block status");
            statuses[i] = Enum.IsDefined(status) ? status : throw new ProtocolViolationException($"Unknown block status {(ushort)status}.");
        }

        long payload = 0;
        for (var i = 0; i < count; i++)
        {
            for (var layer = 0; layer < layers; layer++)
            {
                var length = reader.ReadInt32("chunk length");
                var checksum = reader.ReadUInt64("chunk checksum");
                var ok = statuses[i] == FrameStatus.Ok;
                if (ok ? length <= 0 || length > limits.MaxChunkBytes : length != 0 || checksum != 0)
                {
                    throw new ProtocolViolationException(
                        $"Block {i} ({statuses[i]}) has chunk {layer} of {length} bytes (an Ok block's chunks hold 1 to {limits.MaxChunkBytes}, other blocks' none).");
                }

                chunks[(i * layers) + layer] = new ChunkDeclaration(length, checksum);
                payload += length;
            }
        }

        reader.EnsureFullyRead("ReadBlocks answer head");
        if (head.Length + payload > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"ReadBlocks answer announces {head.Length + payload} bytes, over the {limits.MaxBodyBytes}-byte body limit.");
        }

        return payload;
    }
}
