namespace KvTier.Transport.Messages;

/// <summary>One extent to read or write: inside the lease or reservation <paramref name="Handle"/>, at
/// <paramref name="Offset"/> of the node's arena region, <paramref name="Length"/> bytes.</summary>
/// <param name="Handle">Lease id (reads) or reservation id (writes) that covers the extent.</param>
/// <param name="Offset">Arena offset, as handed out in the lease or reservation.</param>
/// <param name="Length">Bytes.</param>
public readonly record struct ExtentIo(ulong Handle, ulong Offset, int Length)
{
    /// <summary>Bytes of the wire form.</summary>
    public const int WireSize = 20;
}

/// <summary>
/// Wire form of ReadExtents and WriteExtents requests: <c>count u32 | per extent: handle u64, offset u64, length u32</c>,
/// followed (WriteExtents only) by the extents' bytes in order. The node checks that each extent lies inside the
/// block its handle covers, so a peer cannot touch arena memory it was not given.
/// </summary>
public static class ExtentIoRequest
{
    /// <summary>Body size without payload.</summary>
    public static int MeasureHead(int extentCount) => 4 + (extentCount * ExtentIo.WireSize);

    /// <summary>Writes the extent list (the payload, if any, follows).</summary>
    public static void WriteHead(ref BodyWriter writer, ReadOnlySpan<ExtentIo> extents)
    {
        writer.WriteInt32(extents.Length);
        foreach (var extent in extents)
        {
            writer.WriteUInt64(extent.Handle);
            writer.WriteUInt64(extent.Offset);
            writer.WriteInt32(extent.Length);
        }
    }

    /// <summary>Parses the extent list into <paramref name="extents"/> and returns how many there are and the sum of
    /// their lengths (checked against the body limit).</summary>
    /// <exception cref="ProtocolViolationException">A count or length breaks a limit.</exception>
    public static int ReadHead(ref BodyReader reader, FrameLimits limits, Span<ExtentIo> extents, out long totalBytes)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var maxExtents = limits.MaxBlocksPerRequest * limits.MaxChunksPerBlock;
        var count = reader.ReadCount("extent count", Math.Min(maxExtents, extents.Length));
        totalBytes = 0;
        for (var i = 0; i < count; i++)
        {
            var handle = reader.ReadUInt64("handle");
            var offset = reader.ReadUInt64("offset");
            var length = reader.ReadInt32("length");
            if (length <= 0 || length > limits.MaxChunkBytes)
            {
                throw new ProtocolViolationException($"Extent {i} length {length} is outside [1, {limits.MaxChunkBytes}].");
            }

            totalBytes += length;
            extents[i] = new ExtentIo(handle, offset, length);
        }

        if (totalBytes > limits.MaxBodyBytes)
        {
            throw new ProtocolViolationException($"Extents add up to {totalBytes} bytes, over the {limits.MaxBodyBytes}-byte body limit.");
        }

        return count;
    }
}
