using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>Which keys a node holds: request <c>namespace u64 | keys</c>; response <c>count u32 | present u8[count]</c>.</summary>
public static class ContainsBlocksRequest
{
    /// <summary>Exact request body size.</summary>
    public static int MeasureBody(int keyCount) => 8 + KeyBatch.MeasureBody(keyCount);

    /// <summary>Writes a request body.</summary>
    public static int Write(Span<byte> body, NamespaceId kvNamespace, ReadOnlySpan<BlockKey> keys)
    {
        var writer = new BodyWriter(body);
        writer.WriteUInt64(kvNamespace.Value);
        KeyBatch.Write(ref writer, keys);
        return writer.Written;
    }

    /// <summary>Parses a request body in place.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static KeyBatch Read(ReadOnlySpan<byte> body, FrameLimits limits, out NamespaceId kvNamespace)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        kvNamespace = new NamespaceId(reader.ReadUInt64("namespace"));
        var keys = KeyBatch.Read(ref reader, limits);
        reader.EnsureFullyRead("ContainsBlocks");
        return keys;
    }
}
