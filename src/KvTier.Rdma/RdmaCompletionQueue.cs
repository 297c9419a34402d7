using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>A completion queue; holds references on its context and its channel. One thread polls it.</summary>
public sealed unsafe class RdmaCompletionQueue : RdmaHandle
{
    private RdmaCompletionQueue()
    {
    }

    /// <summary>Slots in the queue.</summary>
    public uint Entries { get; private set; }

    /// <summary>Moves up to <paramref name="completions"/>.Length completions out; returns how many (0 when idle).</summary>
    public int Poll(Span<RdmaCompletion> completions)
    {
        // The measured path: the raw pointer goes straight to the shim; the reference keeps a concurrent Dispose
        // from freeing the queue underneath the call.
        var added = false;
        DangerousAddRef(ref added);
        try
        {
            int result;
            fixed (RdmaCompletion* destination = completions)
            {
                result = NativeMethods.CompletionQueuePoll(handle, destination, (uint)completions.Length);
            }

            RdmaException.ThrowIfFailed(result, "Polling a completion queue");
            return result;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Requests an event on the channel for the next completion.</summary>
    public void Arm()
    {
        using var lease = Lease();
        RdmaException.ThrowIfFailed(NativeMethods.CompletionQueueArm(lease.Handle), "Arming a completion queue");
    }

    internal static RdmaCompletionQueue Create(RdmaContext context, uint entries, RdmaCompletionChannel? channel)
    {
        if (entries == 0 || entries > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(entries), entries, "A completion queue needs 1..2^31-1 entries.");
        }

        var queue = new RdmaCompletionQueue { Entries = entries };
        AddRefParents(context, channel, out var contextAdded, out var channelAdded);
        nint native;
        var result = NativeMethods.CompletionQueueCreate(context.DangerousGetHandle(), entries,
            channel?.DangerousGetHandle() ?? 0, &native);
        if (result < 0)
        {
            ReleaseParents(context, channel, contextAdded, channelAdded);
            RdmaException.ThrowIfFailed(result, $"Creating a completion queue of {entries} entries");
        }

        queue.Adopt(native, context, channel);
        return queue;
    }

    private protected override int Destroy(nint native) => NativeMethods.CompletionQueueDestroy(native);
}
