namespace KvTier.Storage.Eviction;

/// <summary>
/// Doubly linked FIFO queues threaded through per-item struct arrays (no node objects): O(1) push at the head,
/// pop at the tail and removal from the middle. Each item is in at most one queue; queue 0 means "none".
/// </summary>
internal sealed class IntrusiveQueues
{
    private const int None = -1;
    private readonly int[] heads;
    private readonly int[] tails;
    private readonly int[] counts;
    private Link[] links = new Link[1024];

    public IntrusiveQueues(int queueCount)
    {
        heads = new int[queueCount + 1];
        tails = new int[queueCount + 1];
        counts = new int[queueCount + 1];
        Array.Fill(heads, None);
        Array.Fill(tails, None);
    }

    public long MemoryBytes => (long)links.Length * System.Runtime.CompilerServices.Unsafe.SizeOf<Link>();

    public int CountOf(int queue) => counts[queue];

    public int QueueOf(int item) => item < links.Length ? links[item].Queue : 0;

    public ref byte Frequency(int item) => ref links[item].Frequency;

    public int Tail(int queue) => tails[queue];

    public void PushHead(int queue, int item, byte frequency)
    {
        if (item >= links.Length)
        {
            Array.Resize(ref links, Math.Max(item + 1, links.Length * 2));
        }

        if (links[item].Queue != 0)
        {
            throw new InvalidOperationException($"Item {item} is already queued.");
        }

        ref var link = ref links[item];
        link.Queue = (byte)queue;
        link.Frequency = frequency;
        link.Previous = None;
        link.Next = heads[queue];
        if (link.Next != None)
        {
            links[link.Next].Previous = item;
        }
        else
        {
            tails[queue] = item;
        }

        heads[queue] = item;
        counts[queue]++;
    }

    /// <summary>Unlinks <paramref name="item"/> and returns the queue it was in (0 when none).</summary>
    public int Remove(int item)
    {
        if (item >= links.Length || links[item].Queue == 0)
        {
            return 0;
        }

        ref var link = ref links[item];
        int queue = link.Queue;
        if (link.Previous != None)
        {
            links[link.Previous].Next = link.Next;
        }
        else
        {
            heads[queue] = link.Next;
        }

        if (link.Next != None)
        {
            links[link.Next].Previous = link.Previous;
        }
        else
        {
            tails[queue] = link.Previous;
        }

        link.Queue = 0;
        counts[queue]--;
        return queue;
    }

    private struct Link
    {
        public int Previous;
        public int Next;
        public byte Queue;
        public byte Frequency;
    }
}
