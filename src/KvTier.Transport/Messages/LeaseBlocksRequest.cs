using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>Lease a layer range of a batch of blocks: <c>namespace u64 | first layer u16 | layer count u16 |
/// lease ms u32 | keys</c>.</summary>
public readonly ref struct LeaseBlocksRequest
{
    /// <summary>Namespace of every key.</summary>
    public NamespaceId Namespace { get; init; }

    /// <summary>First layer (chunk) wanted.</summary>
    public int FirstLayer { get; init; }

    /// <summary>Layers wanted (0 = all from <see cref="FirstLayer"/>).</summary>
    public int LayerCount { get; init; }

    /// <summary>How long the node keeps the blocks from being evicted or moved.</summary>
    public int LeaseMilliseconds { get; init; }

    /// <summary>The keys.</summary>
    public KeyBatch Keys { get; init; }

    /// <summary>Exact body size for <paramref name="keyCount"/> keys.</summary>
    public static int MeasureBody(int keyCount) => 16 + KeyBatch.MeasureBody(keyCount);

    /// <summary>Writes a request body.</summary>
    public static int Write(Span<byte> body, NamespaceId kvNamespace, int firstLayer, int layerCount, int leaseMilliseconds,
        ReadOnlySpan<BlockKey> keys)
    {
        var writer = new BodyWriter(body);
        writer.WriteUInt64(kvNamespace.Value);
        writer.WriteUInt16(checked((ushort)firstLayer));
        writer.WriteUInt16(checked((ushort)layerCount));
        writer.WriteInt32(leaseMilliseconds);
        KeyBatch.Write(ref writer, keys);
        return writer.Written;
    }

    /// <summary>Parses a request body in place.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static LeaseBlocksRequest Read(ReadOnlySpan<byte> body, FrameLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        var request = new LeaseBlocksRequest
        {
            Namespace = new NamespaceId(reader.ReadUInt64("namespace")),
            FirstLayer = reader.ReadUInt16("first layer"),
            LayerCount = reader.ReadUInt16("layer count"),
            LeaseMilliseconds = reader.ReadInt32("lease milliseconds"),
            Keys = KeyBatch.Read(ref reader, limits),
        };
        if (request.LeaseMilliseconds <= 0)
        {
            throw new ProtocolViolationException($"lease milliseconds must be positive, got {request.LeaseMilliseconds}.");
        }

        reader.EnsureFullyRead("LeaseBlocks");
        return request;
    }
}
