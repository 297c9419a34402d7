namespace KvTier.Cuda;

/// <summary>A CUDA stream: copies queued on it run in order, asynchronously to the host.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    private readonly CudaContext context;
    private bool disposed;

    internal CudaStream(CudaContext context, nint handle)
    {
        this.context = context;
        Handle = handle;
    }

    internal nint Handle { get; }

    /// <summary>Queues a host-to-device copy. Asynchronous only from pinned (registered) host memory; the host
    /// range must stay valid until the stream is synchronised.</summary>
    public void CopyToDeviceAsync(CudaDeviceBuffer destination, ulong offset, nint source, ulong length)
    {
        ArgumentNullException.ThrowIfNull(destination);
        destination.CheckRange(offset, length);
        context.MakeCurrent();
        context.Driver.Check(context.Driver.MemcpyHtoDAsync(destination.Pointer + offset, (void*)source, (nuint)length, Handle),
            "cuMemcpyHtoDAsync");
    }

    /// <summary>Queues a device-to-host copy.</summary>
    public void CopyToHostAsync(nint destination, CudaDeviceBuffer source, ulong offset, ulong length)
    {
        ArgumentNullException.ThrowIfNull(source);
        source.CheckRange(offset, length);
        context.MakeCurrent();
        context.Driver.Check(context.Driver.MemcpyDtoHAsync((void*)destination, source.Pointer + offset, (nuint)length, Handle),
            "cuMemcpyDtoHAsync");
    }

    /// <summary>Records <paramref name="cudaEvent"/> at this point of the stream.</summary>
    public void Record(CudaEvent cudaEvent)
    {
        ArgumentNullException.ThrowIfNull(cudaEvent);
        context.MakeCurrent();
        context.Driver.Check(context.Driver.EventRecord(cudaEvent.Handle, Handle), "cuEventRecord");
    }

    /// <summary>Blocks until everything queued has run.</summary>
    public void Synchronize()
    {
        context.MakeCurrent();
        context.Driver.Check(context.Driver.StreamSynchronize(Handle), "cuStreamSynchronize");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            context.MakeCurrent();
            _ = context.Driver.StreamDestroy(Handle);
        }
    }
}
