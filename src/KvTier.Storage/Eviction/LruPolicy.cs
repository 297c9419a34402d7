namespace KvTier.Storage.Eviction;

/// <summary>Least recently used: the baseline S3-FIFO is compared with.</summary>
public sealed class LruPolicy : IEvictionPolicy
{
    private const int Queue = 1;
    private readonly IntrusiveQueues queues = new(1);

    /// <inheritdoc/>
    public string Name => "LRU";

    /// <inheritdoc/>
    public int Count => queues.CountOf(Queue);

    /// <inheritdoc/>
    public long MemoryBytes => queues.MemoryBytes;

    /// <inheritdoc/>
    public void Insert(int item, ulong fingerprint) => queues.PushHead(Queue, item, 0);

    /// <inheritdoc/>
    public void Touch(int item)
    {
        if (queues.Remove(item) != 0)
        {
            queues.PushHead(Queue, item, 0);
        }
    }

    /// <inheritdoc/>
    public void Remove(int item) => queues.Remove(item);

    /// <inheritdoc/>
    public bool Contains(int item) => queues.QueueOf(item) != 0;

    /// <inheritdoc/>
    public bool TryEvict<TFilter>(ref TFilter filter, out int item)
        where TFilter : struct, IVictimFilter
    {
        for (var tries = Count; tries > 0; tries--)
        {
            item = queues.Tail(Queue);
            queues.Remove(item);
            if (filter.CanEvict(item))
            {
                return true;
            }

            queues.PushHead(Queue, item, 0);
        }

        item = -1;
        return false;
    }
}
