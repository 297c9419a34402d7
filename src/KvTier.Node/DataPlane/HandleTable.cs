using System.Collections.Concurrent;

namespace KvTier.Node.DataPlane;

/// <summary>
/// The leases and reservations this node handed out over the data plane, so that a ReadExtents or WriteExtents
/// request can only touch arena bytes its handle covers, and only while the handle lives. Deadlines are taken before
/// the storage engine grants the handle, so ours end no later than the engine's.
/// </summary>
internal sealed class HandleTable<T>
{
    private readonly ConcurrentDictionary<ulong, Entry> entries = new();
    private readonly TimeProvider clock;
    private long nextSweep;

    public HandleTable(TimeProvider clock) => this.clock = clock;

    public int Count => entries.Count;

    public long Now => clock.GetTimestamp();

    public long DeadlineAfter(TimeSpan duration) => clock.GetTimestamp() + (long)(duration.TotalSeconds * clock.TimestampFrequency);

    /// <summary>How long until <paramref name="deadline"/> (negative once passed).</summary>
    public TimeSpan Remaining(long deadline) => TimeSpan.FromSeconds((double)(deadline - clock.GetTimestamp()) / clock.TimestampFrequency);

    public void Add(ulong handle, T value, long deadline)
    {
        entries[handle] = new Entry(value, deadline);
        SweepIfDue();
    }

    /// <summary>The handle's value while at least <paramref name="margin"/> of its life is left.</summary>
    public bool TryGetLive(ulong handle, TimeSpan margin, out T value)
    {
        if (entries.TryGetValue(handle, out var entry)
            && clock.GetTimestamp() + (long)(margin.TotalSeconds * clock.TimestampFrequency) < entry.Deadline)
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    public bool TryRemove(ulong handle, out T value)
    {
        if (entries.TryRemove(handle, out var entry))
        {
            value = entry.Value;
            return true;
        }

        value = default!;
        return false;
    }

    private void SweepIfDue()
    {
        var now = clock.GetTimestamp();
        var due = Interlocked.Read(ref nextSweep);
        if (now < due || Interlocked.CompareExchange(ref nextSweep, now + clock.TimestampFrequency, due) != due)
        {
            return;
        }

        foreach (var pair in entries)
        {
            if (pair.Value.Deadline <= now)
            {
                entries.TryRemove(pair.Key, out _);
            }
        }
    }

    private readonly record struct Entry(T Value, long Deadline);
}
