namespace KvTier.Storage.Eviction;

/// <summary>
/// S3-FIFO (Yang et al., SOSP 2023): new items enter a small FIFO (a tenth of the items); those hit while there
/// move to the main FIFO when they reach its tail, the rest leave and are remembered in a ghost FIFO of
/// fingerprints. An item whose fingerprint is in the ghost goes straight to main. Main is FIFO with reinsertion:
/// a hit item at the tail gets another lap with its count decremented. One-off scans pass through the small queue
/// without disturbing main, which is why it beats LRU on prefix-cache traces.
/// </summary>
public sealed class S3FifoPolicy : IEvictionPolicy
{
    private const int Small = 1;
    private const int Main = 2;
    private const byte MaxFrequency = 3;
    private readonly IntrusiveQueues queues = new(2);
    private readonly GhostFifo ghost = new();
    private readonly double smallFraction;
    private ulong[] fingerprints = new ulong[1024];

    /// <summary>Creates the policy; <paramref name="smallFraction"/> is the small queue's share of the items.</summary>
    public S3FifoPolicy(double smallFraction = 0.1)
    {
        if (smallFraction is <= 0 or >= 1)
        {
            throw new ArgumentOutOfRangeException(nameof(smallFraction), smallFraction, "The small queue's share must lie in (0, 1).");
        }

        this.smallFraction = smallFraction;
    }

    /// <inheritdoc/>
    public string Name => "S3-FIFO";

    /// <inheritdoc/>
    public int Count => queues.CountOf(Small) + queues.CountOf(Main);

    /// <inheritdoc/>
    public long MemoryBytes => queues.MemoryBytes + (fingerprints.Length * 8L) + ghost.MemoryBytes;

    /// <inheritdoc/>
    public void Insert(int item, ulong fingerprint)
    {
        if (item >= fingerprints.Length)
        {
            Array.Resize(ref fingerprints, Math.Max(item + 1, fingerprints.Length * 2));
        }

        fingerprints[item] = fingerprint;
        queues.PushHead(ghost.TryRemove(fingerprint) ? Main : Small, item, 0);
    }

    /// <inheritdoc/>
    public void Touch(int item)
    {
        if (queues.QueueOf(item) != 0)
        {
            ref var frequency = ref queues.Frequency(item);
            if (frequency < MaxFrequency)
            {
                frequency++;
            }
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
        // Every item can be looked at a bounded number of times (moves and frequency decrements), so this ends.
        var pinnedInMain = 0;
        for (var budget = (Count * (MaxFrequency + 2)) + 2; budget > 0; budget--)
        {
            // When a whole lap of main was pinned, look at the small queue even below its share.
            var fromSmall = queues.CountOf(Small) > 0
                && (queues.CountOf(Small) >= smallFraction * Count || queues.CountOf(Main) == 0 || pinnedInMain >= queues.CountOf(Main));
            var queue = fromSmall ? Small : Main;
            item = queues.Tail(queue);
            if (item < 0)
            {
                break;
            }

            var frequency = queues.Frequency(item);
            queues.Remove(item);
            if (!filter.CanEvict(item))
            {
                // Pinned (leased or reserved): keep it, one more lap in main.
                pinnedInMain = fromSmall ? 0 : pinnedInMain + 1;
                queues.PushHead(Main, item, frequency);
                continue;
            }

            if (fromSmall)
            {
                if (frequency > 0)
                {
                    queues.PushHead(Main, item, 0);
                    continue;
                }

                ghost.Add(fingerprints[item], Math.Max(16, Count));
                return true;
            }

            if (frequency > 0)
            {
                queues.PushHead(Main, item, (byte)(frequency - 1));
                continue;
            }

            return true;
        }

        item = -1;
        return false;
    }

    /// <summary>Fingerprints of items recently evicted from the small queue, bounded to about the resident count.</summary>
    private sealed class GhostFifo
    {
        private readonly Dictionary<ulong, int> members = [];
        private ulong[] ring = new ulong[1024];
        private int head;
        private int count;

        public long MemoryBytes => (ring.Length * 8L) + (members.Count * 24L);

        public void Add(ulong fingerprint, int limit)
        {
            if (limit > ring.Length)
            {
                var grown = new ulong[Math.Max(limit, ring.Length * 2)];
                for (var index = 0; index < count; index++)
                {
                    grown[index] = ring[(head + index) % ring.Length];
                }

                ring = grown;
                head = 0;
            }

            while (count >= limit)
            {
                Forget(ring[head]);
                head = (head + 1) % ring.Length;
                count--;
            }

            ring[(head + count) % ring.Length] = fingerprint;
            count++;
            members[fingerprint] = members.GetValueOrDefault(fingerprint) + 1;
        }

        /// <summary>Consumes one ghost mention of <paramref name="fingerprint"/>; the ring entry ages out harmlessly.</summary>
        public bool TryRemove(ulong fingerprint)
        {
            if (!members.TryGetValue(fingerprint, out var mentions) || mentions <= 0)
            {
                return false;
            }

            members[fingerprint] = mentions - 1;
            return true;
        }

        private void Forget(ulong fingerprint)
        {
            if (members.TryGetValue(fingerprint, out var mentions))
            {
                if (mentions <= 1)
                {
                    members.Remove(fingerprint);
                }
                else
                {
                    members[fingerprint] = mentions - 1;
                }
            }
        }
    }
}
