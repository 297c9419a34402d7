namespace KvTier.Transport.Messages;

/// <summary>Per-item outcomes: <c>count u32 | status u16[count]</c>. Answers WriteExtents, CommitBlocks and
/// ReleaseLeases, and heads the ReadExtents response (whose bytes follow for the items that are Ok).</summary>
public static class StatusBatch
{
    /// <summary>Body size.</summary>
    public static int MeasureBody(int count) => 4 + (2 * count);

    /// <summary>Writes the statuses.</summary>
    public static void Write(ref BodyWriter writer, ReadOnlySpan<FrameStatus> statuses)
    {
        writer.WriteInt32(statuses.Length);
        foreach (var status in statuses)
        {
            writer.WriteUInt16((ushort)status);
        }
    }

    /// <summary>Reads exactly <paramref name="expected"/> statuses into <paramref name="statuses"/>.</summary>
    /// <exception cref="ProtocolViolationException">The count differs or a status is unknown.</exception>
    public static void Read(ref BodyReader reader, int expected, Span<FrameStatus> statuses)
    {
        var count = reader.ReadCount("status count", statuses.Length);
        if (count != expected)
        {
            throw new ProtocolViolationException($"Response answers {count} items; the request had {expected}.");
        }

        for (var i = 0; i < count; i++)
        {
            var status = (FrameStatus)reader.ReadUInt16("status");
            statuses[i] = Enum.IsDefined(status) ? status : throw new ProtocolViolationException($"Unknown status {(ushort)status}.");
        }
    }
}

/// <summary>Lease or reservation ids: <c>count u32 | handle u64[count]</c> (CommitBlocks, ReleaseLeases).</summary>
public static class HandleBatch
{
    /// <summary>Body size.</summary>
    public static int MeasureBody(int count) => 4 + (8 * count);

    /// <summary>Writes the handles.</summary>
    public static int Write(Span<byte> body, ReadOnlySpan<ulong> handles)
    {
        var writer = new BodyWriter(body);
        writer.WriteInt32(handles.Length);
        foreach (var handle in handles)
        {
            writer.WriteUInt64(handle);
        }

        return writer.Written;
    }

    /// <summary>Reads the handles into <paramref name="handles"/> and returns how many.</summary>
    /// <exception cref="ProtocolViolationException">The count breaks the limit or the body is malformed.</exception>
    public static int Read(ReadOnlySpan<byte> body, FrameLimits limits, Span<ulong> handles)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        var count = reader.ReadCount("handle count", Math.Min(limits.MaxBlocksPerRequest, handles.Length));
        for (var i = 0; i < count; i++)
        {
            handles[i] = reader.ReadUInt64("handle");
        }

        reader.EnsureFullyRead("handle batch");
        return count;
    }
}
