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

    internal nint Handle { get; }

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
