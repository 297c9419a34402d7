using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>Read a layer range of a batch of blocks in one round trip: <c>namespace u64 | first layer u16 |
/// layer count u16 | keys</c>. The namespace comes first, as in every request that names one. Answered with
/// <see cref="ReadBlocksResponse"/>.</summary>
public readonly ref struct ReadBlocksRequest
{
    /// <summary>Namespace of every key.</summary>
    public NamespaceId Namespace { get; init; }

    /// <summary>First layer (chunk) wanted.</summary>
    public int FirstLayer { get; init; }

    /// <summary>Layers wanted (at least one; the response head's size depends on it).</summary>
    public int LayerCount { get; init; }

    /// <summary>The keys.</summary>
    public KeyBatch Keys { get; init; }

    /// <summary>Exact body size for <paramref name="keyCount"/> keys.</summary>
    public static int MeasureBody(int keyCount) => 12 + KeyBatch.MeasureBody(keyCount);

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

    /// <summary>Parses a request body in place.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static ReadBlocksRequest Read(ReadOnlySpan<byte> body, FrameLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        var request = new ReadBlocksRequest
        {
            Namespace = new NamespaceId(reader.ReadUInt64("namespace")),
            FirstLayer = reader.ReadUInt16("first layer"),
            LayerCount = reader.ReadUInt16("layer count"),
            Keys = KeyBatch.Read(ref reader, limits),
        };
        if (request.LayerCount == 0 || request.LayerCount > limits.MaxChunksPerBlock)
        {
            throw new ProtocolViolationException($"layer count {request.LayerCount} is outside [1, {limits.MaxChunksPerBlock}].");
        }

        reader.EnsureFullyRead("ReadBlocks");
        return request;
    }
}
