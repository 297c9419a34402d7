using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>A completion channel (a pollable file descriptor); holds a reference on its context.</summary>
public sealed unsafe class RdmaCompletionChannel : RdmaHandle
{
    private RdmaCompletionChannel()
    {
    }

    /// <summary>Blocks up to <paramref name="timeoutMilliseconds"/> (-1 = forever) for a completion event on a
    /// CQ bound to this channel, acknowledges and re-arms it. True when an event came: poll the CQ next.</summary>
    public bool Wait(int timeoutMilliseconds)
    {
        var added = false;
        DangerousAddRef(ref added);
        try
        {
            nint queue;
            var result = NativeMethods.ChannelWait(handle, timeoutMilliseconds, &queue);
            if (result == -110)
            {
                return false; // ETIMEDOUT
            }

            RdmaException.ThrowIfFailed(result, "Waiting on a completion channel");
            return true;
        }
        finally
        {
            if (added)
            {
                DangerousRelease();
            }
        }
    }

    internal static RdmaCompletionChannel Create(RdmaContext context)
    {
        var channel = new RdmaCompletionChannel();
        AddRefParents(context, null, out var added, out _);
        nint native;
        var result = NativeMethods.ChannelCreate(context.DangerousGetHandle(), &native);
        if (result < 0)
        {
            ReleaseParents(context, null, added, false);
            RdmaException.ThrowIfFailed(result, "Creating a completion channel");
        }

        channel.Adopt(native, context, null);
        return channel;
    }

    private protected override int Destroy(nint native) => NativeMethods.ChannelDestroy(native);
}
