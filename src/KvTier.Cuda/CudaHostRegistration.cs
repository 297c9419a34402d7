namespace KvTier.Cuda;

/// <summary>A host range page-locked with cuMemHostRegister; unregistered on dispose (the memory itself stays
/// the caller's).</summary>
public sealed unsafe class CudaHostRegistration : IDisposable
{
    private readonly CudaContext context;
    private bool disposed;

    internal CudaHostRegistration(CudaContext context, nint address, ulong length)
    {
        this.context = context;
        Address = address;
        Length = length;
    }

    /// <summary>First byte.</summary>
    public nint Address { get; }

    /// <summary>Bytes.</summary>
    public ulong Length { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            context.MakeCurrent();
            _ = context.Driver.MemHostUnregister((void*)Address);
        }
    }
}
