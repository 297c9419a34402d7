using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>A reliable-connected queue pair; holds references on its context and completion queue.
/// One thread posts to it at a time.</summary>
public sealed unsafe class RdmaQueuePair : RdmaHandle
{
    private RdmaQueuePair()
    {
    }

    /// <summary>Operations per post and outstanding.</summary>
    public uint MaxSendRequests { get; private set; }

    /// <summary>What the peer needs to connect to this queue pair (send it over the control plane).</summary>
    public RdmaEndpoint LocalEndpoint
    {
        get
        {
            using var lease = Lease();
            RdmaEndpoint endpoint;
            RdmaException.ThrowIfFailed(NativeMethods.QueuePairLocalEndpoint(lease.Handle, &endpoint), "Reading the local endpoint");
            return endpoint;
        }
    }

    /// <summary>INIT, RTR and RTS towards <paramref name="remote"/>.</summary>
    public void Connect(in RdmaEndpoint remote, in RdmaConnectOptions options = default)
    {
        using var lease = Lease();
        fixed (RdmaEndpoint* remotePointer = &remote)
        fixed (RdmaConnectOptions* optionsPointer = &options)
        {
            RdmaException.ThrowIfFailed(NativeMethods.QueuePairConnect(lease.Handle, remotePointer, optionsPointer),
                $"Connecting QP to remote QP {remote.QueuePairNumber}");
        }
    }

    /// <summary>Back to RESET after an error, so that <see cref="Connect"/> can run again.</summary>
    public void Reset()
    {
        using var lease = Lease();
        RdmaException.ThrowIfFailed(NativeMethods.QueuePairReset(lease.Handle), "Resetting a QP");
    }

    /// <summary>Posts the operations as one work-request list (one doorbell). Returns 0 or -errno: -ERANGE when a
    /// local range is outside <paramref name="local"/> (nothing posted), -ENOMEM when the send queue is full.
    /// <paramref name="posted"/> is how many the provider accepted.</summary>
    public int TryPost(RdmaMemoryRegion local, ReadOnlySpan<RdmaOperation> operations, out int posted)
    {
        ArgumentNullException.ThrowIfNull(local);
        var added = false;
        var localAdded = false;
        DangerousAddRef(ref added);
        try
        {
            local.DangerousAddRef(ref localAdded);
            uint accepted;
            int result;
            fixed (RdmaOperation* first = operations)
            {
                result = NativeMethods.QueuePairPost(handle, local.DangerousGetHandle(), first, (uint)operations.Length,
                    &accepted);
            }

            posted = (int)accepted;
            return result;
        }
        finally
        {
            if (localAdded)
            {
                local.DangerousRelease();
            }

            if (added)
            {
                DangerousRelease();
            }
        }
    }

    /// <summary>Like <see cref="TryPost"/>, throwing <see cref="RdmaException"/> on failure.</summary>
    public void Post(RdmaMemoryRegion local, ReadOnlySpan<RdmaOperation> operations)
    {
        var result = TryPost(local, operations, out var posted);
        if (result < 0)
        {
            // The message is built only on failure: this is the measured hot path.
            RdmaException.ThrowIfFailed(result, $"Posting {operations.Length} operations ({posted} accepted)");
        }
    }

    internal static RdmaQueuePair Create(RdmaContext context, RdmaCompletionQueue completionQueue, uint maxSendRequests)
    {
        var queuePair = new RdmaQueuePair { MaxSendRequests = maxSendRequests };
        AddRefParents(context, completionQueue, out var contextAdded, out var queueAdded);
        nint native;
        var result = NativeMethods.QueuePairCreate(context.DangerousGetHandle(), completionQueue.DangerousGetHandle(), 0,
            maxSendRequests, &native);
        if (result < 0)
        {
            ReleaseParents(context, completionQueue, contextAdded, queueAdded);
            RdmaException.ThrowIfFailed(result, $"Creating a queue pair of {maxSendRequests} send requests");
        }

        queuePair.Adopt(native, context, completionQueue);
        return queuePair;
    }

    private protected override int Destroy(nint native) => NativeMethods.QueuePairDestroy(native);
}
