using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>Read a layer range of a batch of blocks in one round trip. <see cref="Opcode.ReadBlocks"/>:
/// <c>namespace u64 | first layer u16 | layer count u16 | keys</c>, answered with <see cref="ReadBlocksResponse"/>;
/// <see cref="Opcode.ReadBlocksSplit"/>: <c>namespace u64 | first layer u16 | layer count u16 | chunk head bytes u16 |
/// reserved u16 | keys</c>, answered with the split layout (<see cref="ReadBlocksResponse.MeasureSplitHead"/>). The
/// namespace comes first, as in every request that names one.</summary>
public readonly ref struct ReadBlocksRequest
{
    /// <summary>Most chunk head bytes a split read may ask for (a codec header is 32).</summary>
    public const int MaxChunkHeadBytes = 1024;

    /// <summary>Namespace of every key.</summary>
    public NamespaceId Namespace { get; init; }

    /// <summary>First layer (chunk) wanted.</summary>
    public int FirstLayer { get; init; }

    /// <summary>Layers wanted (at least one; the response head's size depends on it).</summary>
    public int LayerCount { get; init; }

    /// <summary>Split reads: how many leading bytes of every chunk go in the answer's head (0 for a plain ReadBlocks).</summary>
    public int ChunkHeadBytes { get; init; }

    /// <summary>The keys.</summary>
    public KeyBatch Keys { get; init; }

    /// <summary>Exact body size for <paramref name="keyCount"/> keys.</summary>
    public static int MeasureBody(int keyCount) => 12 + KeyBatch.MeasureBody(keyCount);

    /// <summary>Exact body size of a split read for <paramref name="keyCount"/> keys.</summary>
    public static int MeasureSplitBody(int keyCount) => 16 + KeyBatch.MeasureBody(keyCount);

    /// <summary>Writes a request body and returns its length.</summary>
    public static int Write(Span<byte> body, NamespaceId kvNamespace, int firstLayer, int layerCount, ReadOnlySpan<BlockKey> keys)
    {
        var writer = new BodyWriter(body);
        writer.WriteUInt64(kvNamespace.Value);
        writer.WriteUInt16(checked((ushort)firstLayer));
        writer.WriteUInt16(checked((ushort)layerCount));
        KeyBatch.Write(ref writer, keys);
        return writer.Written;
    }

    /// <summary>Writes a split read's body and returns its length.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkHeadBytes"/> is negative or over <see cref="MaxChunkHeadBytes"/>.</exception>
    public static int WriteSplit(Span<byte> body, NamespaceId kvNamespace, int firstLayer, int layerCount, int chunkHeadBytes,
        ReadOnlySpan<BlockKey> keys)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(chunkHeadBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunkHeadBytes, MaxChunkHeadBytes);
        var writer = new BodyWriter(body);
        writer.WriteUInt64(kvNamespace.Value);
        writer.WriteUInt16(checked((ushort)firstLayer));
        writer.WriteUInt16(checked((ushort)layerCount));
        writer.WriteUInt16((ushort)chunkHeadBytes);
        writer.WriteUInt16(0);
        KeyBatch.Write(ref writer, keys);
        return writer.Written;
    }

    /// <summary>Parses a request body in place.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static ReadBlocksRequest Read(ReadOnlySpan<byte> body, FrameLimits limits) => Read(body, limits, split: false);

    /// <summary>Parses a split read's body in place.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static ReadBlocksRequest ReadSplit(ReadOnlySpan<byte> body, FrameLimits limits) => Read(body, limits, split: true);

    private static ReadBlocksRequest Read(ReadOnlySpan<byte> body, FrameLimits limits, bool split)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        var kvNamespace = new NamespaceId(reader.ReadUInt64("namespace"));
        var firstLayer = reader.ReadUInt16("first layer");
        var layerCount = reader.ReadUInt16("layer count");
        var headBytes = 0;
        if (split)
        {
            headBytes = reader.ReadUInt16("chunk head bytes");
            if (headBytes > MaxChunkHeadBytes)
            {
                throw new ProtocolViolationException($"chunk head bytes {headBytes} is over the limit of {MaxChunkHeadBytes}.");
            }

            var reserved = reader.ReadUInt16("reserved");
            if (reserved != 0)
            {
                throw new ProtocolViolationException($"ReadBlocksSplit request has reserved bits 0x{reserved:x4} set.");
            }
        }

        var request = new ReadBlocksRequest
        {
            Namespace = kvNamespace,
            FirstLayer = firstLayer,
            LayerCount = layerCount,
            ChunkHeadBytes = headBytes,
            Keys = KeyBatch.Read(ref reader, limits),
        };
        if (request.LayerCount == 0 || request.LayerCount > limits.MaxChunksPerBlock)
        {
            throw new ProtocolViolationException($"layer count {request.LayerCount} is outside [1, {limits.MaxChunksPerBlock}].");
        }

        reader.EnsureFullyRead(split ? "ReadBlocksSplit" : "ReadBlocks");
        return request;
    }
}
