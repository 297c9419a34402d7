namespace KvTier.Storage.Eviction;

/// <summary>
/// Chooses which resident item leaves a tier. Items are small dense integers (the index slot in the engine, a
/// compact id in the trace study), so policies keep their state in struct arrays. Not thread-safe: the engine
/// serialises calls. Sizes are not the policy's business: the caller evicts until enough bytes are free.
/// </summary>
public interface IEvictionPolicy
{
    /// <summary>Short name for tables and logs.</summary>
    string Name { get; }

    /// <summary>Items the policy tracks.</summary>
    int Count { get; }

    /// <summary>Bytes of policy metadata (per-item arrays, ghost filter).</summary>
    long MemoryBytes { get; }

    /// <summary>Starts tracking a newly stored item; <paramref name="fingerprint"/> identifies it across evictions.</summary>
    void Insert(int item, ulong fingerprint);

    /// <summary>Records a hit on a tracked item.</summary>
    void Touch(int item);

    /// <summary>Stops tracking an item that left for another reason (deleted, corrupt).</summary>
    void Remove(int item);

    /// <summary>Whether <paramref name="item"/> is tracked.</summary>
    bool Contains(int item);

    /// <summary>
    /// Picks a victim that <paramref name="filter"/> allows (leased and reserved items are refused and kept) and
    /// stops tracking it. False when no tracked item may be evicted now.
    /// </summary>
    bool TryEvict<TFilter>(ref TFilter filter, out int item)
        where TFilter : struct, IVictimFilter;
}

/// <summary>Tells a policy whether an item may be evicted right now.</summary>
public interface IVictimFilter
{
    /// <summary>False for items that are leased, reserved or otherwise pinned.</summary>
    bool CanEvict(int item);
}

/// <summary>A filter that allows every item (the trace study: nothing is ever leased there).</summary>
public readonly struct AnyVictim : IVictimFilter
{
    /// <inheritdoc/>
    public bool CanEvict(int item) => true;
}
