using System.Globalization;
using System.Runtime.InteropServices;
using KvTier.Storage.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace KvTier.Storage.Nvme;

/// <summary>
/// The NVMe tier's files: a log of fixed-size segment files in one directory, appended with page-aligned writes
/// (O_DIRECT where the file system allows it). Appends reserve their range under a short lock and write outside it,
/// so writers run in parallel. A segment is deleted only when no reader holds it. Knows nothing of the index: the
/// engine decides what is live.
/// </summary>
internal sealed class SegmentStore : IDisposable
{
    private const string FilePrefix = "segment-";
    private const string FileSuffix = ".kvs";

    private readonly Lock gate = new();
    private readonly Dictionary<int, Segment> segments = [];
    private readonly string directory;
    private readonly ILogger logger;
    private Segment? active;
    private int nextSegmentId;
    private long sequence;
    private bool disposed;

    public SegmentStore(string directory, long segmentBytes, long capacityBytes, int maxExtentLength, ILogger logger)
    {
        if (segmentBytes < AlignedBuffer.Alignment * 4 || segmentBytes % AlignedBuffer.Alignment != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(segmentBytes), segmentBytes, "A segment must be a multiple of 4096 bytes and at least 16 KiB.");
        }

        if (capacityBytes < segmentBytes * 2)
        {
            throw new ArgumentOutOfRangeException(nameof(capacityBytes), capacityBytes, $"The NVMe tier needs room for at least two {segmentBytes}-byte segments.");
        }

        if (RecordHeader.Size + (long)maxExtentLength > segmentBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(segmentBytes), segmentBytes, $"A segment must hold the largest block ({maxExtentLength} bytes) plus its header.");
        }

        this.directory = directory;
        this.logger = logger;
        SegmentBytes = segmentBytes;
        MaxSegments = (int)(capacityBytes / segmentBytes);
        MaxExtentLength = maxExtentLength;
        Directory.CreateDirectory(directory);
        DirectIo = ProbeDirectIo();
        logger.LogInformation("NVMe tier: {Directory}, {Segments} segments of {SegmentBytes} bytes, O_DIRECT {DirectIo}.", directory, MaxSegments, segmentBytes, DirectIo);
    }

    public long SegmentBytes { get; }

    public int MaxSegments { get; }

    public int MaxExtentLength { get; }

    /// <summary>Whether segment files are opened with O_DIRECT (false where the file system refuses it, e.g. tmpfs).</summary>
    public bool DirectIo { get; }

    public int SegmentCount { get { lock (gate) { return segments.Count; } } }

    public long LiveBytes { get { lock (gate) { return segments.Values.Sum(segment => segment.LiveBytes); } } }

    public long WriteErrors;

    /// <summary>
    /// Appends a block record holding <paramref name="extent"/>; returns its location, or 0 when the tier has no
    /// room (the caller cleans a segment and retries) or the disk refused the write.
    /// </summary>
    public ulong Append(in BlockId id, ReadOnlySpan<byte> extent, uint tableChecksum)
    {
        var header = new RecordHeader(RecordKind.Block, 0, id, extent.Length, tableChecksum);
        var padded = header.PaddedLength;
        Segment segment;
        long offset;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (active is null || active.WriteOffset + padded > SegmentBytes)
            {
                if (active is not null)
                {
                    active.Sealed = true;
                }

                if (segments.Count >= MaxSegments)
                {
                    active = null;
                    return 0;
                }

                try
                {
                    active = OpenSegment(nextSegmentId++, create: true);
                }
                catch (IOException exception)
                {
                    // Cannot create a segment (no space for the inode, no file descriptors, ...): this demotion fails.
                    Interlocked.Increment(ref WriteErrors);
                    logger.LogError(exception, "NVMe tier: cannot open a new segment.");
                    return 0;
                }
            }

            segment = active;
            offset = segment.WriteOffset;
            segment.WriteOffset += padded;
            segment.LiveBytes += padded;
            segment.Readers++;
            header = header with { Sequence = (ulong)++sequence };
        }

        try
        {
            var buffer = AlignedBuffer.ForWrites(padded);
            var span = buffer.Span[..padded];
            header.Write(span);
            extent.CopyTo(span[RecordHeader.Size..]);
            span[(RecordHeader.Size + extent.Length)..].Clear();
            RandomAccess.Write(segment.Handle, span, offset);
            return RecordLocation.Pack(segment.Id, offset);
        }
        catch (IOException exception)
        {
            // ENOSPC and friends: the range stays a hole that recovery skips; stop appending to this segment.
            Interlocked.Increment(ref WriteErrors);
            logger.LogError(exception, "NVMe tier: write of {Bytes} bytes at {Offset} in segment {Segment} failed; sealing it.", padded, offset, segment.Id);
            lock (gate)
            {
                segment.Sealed = true;
                segment.LiveBytes -= padded;
                if (active == segment)
                {
                    active = null;
                }
            }

            return 0;
        }
        finally
        {
            ReleaseReader(segment);
        }
    }

    /// <summary>
    /// Reads the record at <paramref name="location"/> into this thread's aligned buffer and returns its extent, or
    /// an empty span when the segment is gone, the read fails, or the header does not describe <paramref name="id"/>.
    /// </summary>
    public ReadOnlySpan<byte> Read(ulong location, in BlockId id, int extentLength)
    {
        var segment = AcquireReader(RecordLocation.Segment(location));
        if (segment is null)
        {
            return default;
        }

        try
        {
            var padded = AlignedBuffer.RoundUp(RecordHeader.Size + extentLength);
            var buffer = AlignedBuffer.ForReads(padded).Span[..padded];
            if (RandomAccess.Read(segment.Handle, buffer, RecordLocation.Offset(location)) < padded
                || !RecordHeader.TryRead(buffer, MaxExtentLength, out var header)
                || header.Kind != RecordKind.Block || header.Id != id || header.ExtentLength != extentLength)
            {
                return default;
            }

            return buffer.Slice(RecordHeader.Size, extentLength);
        }
        catch (IOException exception)
        {
            logger.LogError(exception, "NVMe tier: read at {Location:x} failed.", location);
            return default;
        }
        finally
        {
            ReleaseReader(segment);
        }
    }

    /// <summary>The record no longer holds a live block (superseded, evicted, deleted): its space is garbage.</summary>
    public void MarkDead(ulong location, int extentLength)
    {
        lock (gate)
        {
            if (segments.TryGetValue(RecordLocation.Segment(location), out var segment))
            {
                segment.LiveBytes -= AlignedBuffer.RoundUp(RecordHeader.Size + extentLength);
            }
        }
    }

    /// <summary>Rewrites the record's header as deleted so a restart does not bring the block back.</summary>
    public void KillInPlace(ulong location)
    {
        var segment = AcquireReader(RecordLocation.Segment(location));
        if (segment is null)
        {
            return;
        }

        try
        {
            var page = AlignedBuffer.ForWrites(AlignedBuffer.Alignment).Span[..AlignedBuffer.Alignment];
            var offset = RecordLocation.Offset(location);
            if (RandomAccess.Read(segment.Handle, page, offset) == page.Length && RecordHeader.TryRead(page, MaxExtentLength, out var header))
            {
                (header with { Kind = RecordKind.Deleted }).Write(page);
                RandomAccess.Write(segment.Handle, page, offset);
            }
        }
        catch (IOException exception)
        {
            logger.LogError(exception, "NVMe tier: could not mark the record at {Location:x} deleted.", location);
        }
        finally
        {
            ReleaseReader(segment);
        }
    }

    /// <summary>The sealed segment with the fewest live bytes (the cheapest to clean), or -1.</summary>
    public int CleaningCandidate()
    {
        lock (gate)
        {
            var best = -1;
            var bestLive = long.MaxValue;
            foreach (var segment in segments.Values)
            {
                if (segment != active && !segment.Deleted && segment.LiveBytes < bestLive)
                {
                    best = segment.Id;
                    bestLive = segment.LiveBytes;
                }
            }

            return best;
        }
    }

    /// <summary>Whether a new segment can be opened without cleaning.</summary>
    public bool HasFreeSegment { get { lock (gate) { return segments.Count < MaxSegments; } } }

    /// <summary>
    /// Walks every record of <paramref name="segmentId"/> in order. Valid block records (header and every chunk
    /// checksum good) go to <paramref name="visit"/>; torn or corrupt ones are counted and skipped.
    /// </summary>
    public ScanCounts Scan(int segmentId, RecordVisitor visit)
    {
        var counts = default(ScanCounts);
        var segment = AcquireReader(segmentId);
        if (segment is null)
        {
            return counts;
        }

        try
        {
            var length = RandomAccess.GetLength(segment.Handle);
            var page = AlignedBuffer.Alignment;
            for (long offset = 0; offset + page <= length;)
            {
                var buffer = AlignedBuffer.ForReads(page).Span[..page];
                if (RandomAccess.Read(segment.Handle, buffer, offset) < page)
                {
                    break;
                }

                if (!RecordHeader.TryRead(buffer, MaxExtentLength, out var header))
                {
                    if (buffer.IndexOfAnyExcept((byte)0) >= 0)
                    {
                        counts.Corrupt++;
                    }

                    offset += page;
                    continue;
                }

                var padded = header.PaddedLength;
                if (offset + padded > length)
                {
                    counts.Torn++;
                    break;
                }

                var record = AlignedBuffer.ForReads(padded).Span[..padded];
                if (RandomAccess.Read(segment.Handle, record, offset) < padded)
                {
                    counts.Torn++;
                    break;
                }

                var extent = record.Slice(RecordHeader.Size, header.ExtentLength);
                if (header.Kind == RecordKind.Deleted)
                {
                    counts.Deleted++;
                }
                else if (!BlockTable.IsWellFormed(extent) || BlockTable.ChecksumOf(extent[..BlockTable.SizeFor(BlockTable.ChunkCount(extent))]) != header.TableChecksum
                    || BlockTable.FirstCorruptChunk(extent, 0, BlockTable.ChunkCount(extent)) >= 0)
                {
                    counts.Corrupt++;
                }
                else
                {
                    counts.Valid++;
                    visit(header, RecordLocation.Pack(segmentId, offset), extent);
                }

                offset += padded;
            }

            lock (gate)
            {
                segment.WriteOffset = Math.Max(segment.WriteOffset, AlignedBuffer.RoundUp(length));
            }
        }
        finally
        {
            ReleaseReader(segment);
        }

        return counts;
    }

    /// <summary>Opens every segment file found in the directory (restart) and returns their ids, oldest first.</summary>
    public IReadOnlyList<int> OpenExisting()
    {
        var ids = new List<int>();
        foreach (var path in Directory.EnumerateFiles(directory, FilePrefix + "*" + FileSuffix))
        {
            var name = Path.GetFileName(path);
            if (int.TryParse(name.AsSpan(FilePrefix.Length, name.Length - FilePrefix.Length - FileSuffix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                ids.Add(id);
            }
        }

        ids.Sort();
        lock (gate)
        {
            foreach (var id in ids)
            {
                var segment = OpenSegment(id, create: false);
                segment.Sealed = true;
                segment.LiveBytes = 0; // recovery adds back what it keeps
                nextSegmentId = Math.Max(nextSegmentId, id + 1);
            }
        }

        return ids;
    }

    /// <summary>Recovery saw <paramref name="sequenceNumber"/>: later appends number after it.</summary>
    public void ObserveSequence(ulong sequenceNumber)
    {
        lock (gate)
        {
            sequence = Math.Max(sequence, (long)sequenceNumber);
        }
    }

    /// <summary>Recovery kept the record at <paramref name="location"/>: its bytes count as live.</summary>
    public void AddLive(ulong location, int extentLength)
    {
        lock (gate)
        {
            if (segments.TryGetValue(RecordLocation.Segment(location), out var segment))
            {
                segment.LiveBytes += AlignedBuffer.RoundUp(RecordHeader.Size + extentLength);
            }
        }
    }

    /// <summary>Removes a cleaned segment; its file goes when the last reader leaves.</summary>
    public void Delete(int segmentId)
    {
        Segment? segment;
        lock (gate)
        {
            if (!segments.TryGetValue(segmentId, out segment) || segment == active)
            {
                return;
            }

            segments.Remove(segmentId);
            segment.Deleted = true;
            if (segment.Readers > 0)
            {
                return;
            }
        }

        Destroy(segment);
    }

    public void Dispose()
    {
        List<Segment> open;
        lock (gate)
        {
            disposed = true;
            open = [.. segments.Values];
            segments.Clear();
            active = null;
        }

        foreach (var segment in open)
        {
            segment.Handle.Dispose();
        }
    }

    private Segment? AcquireReader(int id)
    {
        lock (gate)
        {
            if (disposed || !segments.TryGetValue(id, out var segment))
            {
                return null;
            }

            segment.Readers++;
            return segment;
        }
    }

    private void ReleaseReader(Segment segment)
    {
        bool destroy;
        lock (gate)
        {
            destroy = --segment.Readers == 0 && segment.Deleted;
        }

        if (destroy)
        {
            Destroy(segment);
        }
    }

    private void Destroy(Segment segment)
    {
        segment.Handle.Dispose();
        try
        {
            File.Delete(segment.Path);
        }
        catch (IOException exception)
        {
            logger.LogWarning(exception, "NVMe tier: could not delete cleaned segment {Path}.", segment.Path);
        }
    }

    private Segment OpenSegment(int id, bool create)
    {
        var path = Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"{FilePrefix}{id:D8}{FileSuffix}"));
        var flags = LibC.OpenReadWrite | LibC.OpenCloseOnExec | (create ? LibC.OpenCreate : 0) | (DirectIo ? LibC.OpenDirect : 0);
        var fd = LibC.Open(path, flags, Convert.ToInt32("644", 8));
        if (fd < 0 && DirectIo && Marshal.GetLastPInvokeError() == LibC.ErrorInvalidArgument)
        {
            // This one file refuses O_DIRECT (another file system or a device behind a link): buffered I/O for it.
            logger.LogWarning("NVMe tier: {Path} refuses O_DIRECT; using buffered I/O for it.", path);
            fd = LibC.Open(path, flags & ~LibC.OpenDirect, Convert.ToInt32("644", 8));
        }

        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open NVMe segment '{path}': {LibC.Describe(errno)}.");
        }

        var segment = new Segment(id, path, new SafeFileHandle(fd, ownsHandle: true));
        segments.Add(id, segment);
        return segment;
    }

    private bool ProbeDirectIo()
    {
        var probe = Path.Combine(directory, ".direct-io-probe");
        var fd = LibC.Open(probe, LibC.OpenReadWrite | LibC.OpenCreate | LibC.OpenDirect | LibC.OpenCloseOnExec, Convert.ToInt32("644", 8));
        var errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        if (fd >= 0)
        {
            _ = LibC.Close(fd);
        }

        File.Delete(probe);
        if (fd < 0)
        {
            logger.LogWarning("NVMe tier: O_DIRECT refused in {Directory} ({Error}); using buffered I/O.", directory, LibC.Describe(errno));
        }

        return fd >= 0;
    }

    private sealed class Segment(int id, string path, SafeFileHandle handle)
    {
        public int Id { get; } = id;

        public string Path { get; } = path;

        public SafeFileHandle Handle { get; } = handle;

        public long WriteOffset;
        public long LiveBytes;
        public int Readers;
        public bool Sealed;
        public bool Deleted;
    }
}

/// <summary>Receives one valid record found by a segment scan.</summary>
internal delegate void RecordVisitor(in RecordHeader header, ulong location, ReadOnlySpan<byte> extent);

/// <summary>What a segment scan found.</summary>
internal struct ScanCounts
{
    public int Valid;
    public int Deleted;
    public int Corrupt;
    public int Torn;
}
