namespace KvTier.Cuda;

/// <summary>A CUDA driver call failed.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CudaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a failed call.</summary>
    public CudaException(string operation, int result, string resultName)
        : base($"{operation} failed: {resultName} ({result})")
    {
        Result = result;
    }

    /// <summary>The CUresult code (0 = success).</summary>
    public int Result { get; }
}
