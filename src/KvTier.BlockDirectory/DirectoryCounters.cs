namespace KvTier.BlockDirectory;

/// <summary>Thread-safe counters of the directory's unusual events, for metrics and tests.</summary>
public sealed class DirectoryCounters
{
    private long malformedRecords;
    private long degradedReads;
    private long droppedPublications;

    /// <summary>Values found in the store that are not our records (other writers, other versions); treated as absent.</summary>
    public long MalformedRecords => Interlocked.Read(ref malformedRecords);

    /// <summary>Reads answered with a miss because the store was unreachable.</summary>
    public long DegradedReads => Interlocked.Read(ref degradedReads);

    /// <summary>Publications dropped because the store was unreachable.</summary>
    public long DroppedPublications => Interlocked.Read(ref droppedPublications);

    internal void AddMalformed(long count) => Interlocked.Add(ref malformedRecords, count);

    internal void AddDegradedRead() => Interlocked.Increment(ref degradedReads);

    internal void AddDropped(long count) => Interlocked.Add(ref droppedPublications, count);
}
