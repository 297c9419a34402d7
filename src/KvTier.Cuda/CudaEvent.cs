namespace KvTier.Cuda;

/// <summary>A CUDA event: a point in a stream, for completion and GPU-side timing.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private readonly CudaContext context;
    private bool disposed;

    internal CudaEvent(CudaContext context, nint handle)
    {
        this.context = context;
        Handle = handle;
    }

    private const int ErrorNotReady = 600;

    internal nint Handle { get; }

    /// <summary>The CUevent, for engines that wait on it from their own CUDA code (cuStreamWaitEvent,
    /// torch.cuda.Event via its handle); valid until this object is disposed.</summary>
    public nint NativeHandle => Handle;

    /// <summary>Whether the work recorded before the event has finished (cuEventQuery), without blocking.</summary>
    public bool IsComplete
    {
        get
        {
            context.MakeCurrent();
            var result = context.Driver.EventQuery(Handle);
            if (result == ErrorNotReady)
            {
                return false;
            }

            context.Driver.Check(result, "cuEventQuery");
            return true;
        }
    }

    /// <summary>Blocks until the event has happened.</summary>
    public void Synchronize()
    {
        context.MakeCurrent();
        context.Driver.Check(context.Driver.EventSynchronize(Handle), "cuEventSynchronize");
    }

    /// <summary>GPU time between <paramref name="start"/> and this event, in milliseconds (both recorded and done).</summary>
    public float ElapsedMillisecondsSince(CudaEvent start)
    {
        ArgumentNullException.ThrowIfNull(start);
        context.MakeCurrent();
        float milliseconds;
        context.Driver.Check(context.Driver.EventElapsedTime(&milliseconds, start.Handle, Handle), "cuEventElapsedTime");
        return milliseconds;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            context.MakeCurrent();
            _ = context.Driver.EventDestroy(Handle);
        }
    }
}
