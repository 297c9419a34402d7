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

    /// <summary>The CUstream, for engines that queue their own work behind ours; valid until disposed.</summary>
    public nint NativeHandle => Handle;

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

    /// <summary>Queues a host-to-device copy to a device address this binding did not allocate (an engine's KV
    /// cache tensor). The binding cannot check the range: the caller vouches that
    /// [<paramref name="destination"/>, + <paramref name="length"/>) is device memory of this context.</summary>
    public void CopyToDeviceAddressAsync(ulong destination, nint source, ulong length)
    {
        if (destination == 0 || source == 0)
        {
            throw new ArgumentException($"Cannot copy {length} bytes from 0x{source:x} to device address 0x{destination:x}.",
                nameof(destination));
        }

        context.MakeCurrent();
        context.Driver.Check(context.Driver.MemcpyHtoDAsync(destination, (void*)source, (nuint)length, Handle),
            "cuMemcpyHtoDAsync");
    }

    /// <summary>Makes work queued on this stream after this call wait until <paramref name="cudaEvent"/> has
    /// happened (on the GPU; the host does not block).</summary>
    public void WaitFor(CudaEvent cudaEvent)
    {
        ArgumentNullException.ThrowIfNull(cudaEvent);
        context.MakeCurrent();
        context.Driver.Check(context.Driver.StreamWaitEvent(Handle, cudaEvent.Handle, 0), "cuStreamWaitEvent");
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
