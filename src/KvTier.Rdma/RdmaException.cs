namespace KvTier.Rdma;

/// <summary>A verbs call failed; <see cref="Errno"/> is the positive errno the shim returned.</summary>
public sealed class RdmaException : IOException
{
    /// <summary>Creates the exception.</summary>
    public RdmaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public RdmaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a failed call.</summary>
    public RdmaException(string operation, int errno, string detail)
        : base($"{operation} failed: errno {errno} ({Describe(errno)}){(detail.Length > 0 ? ": " + detail : string.Empty)}")
    {
        Errno = errno;
    }

    /// <summary>The positive errno value (e.g. 34 = ERANGE).</summary>
    public int Errno { get; }

    internal static void ThrowIfFailed(int result, string operation)
    {
        if (result < 0)
        {
            throw new RdmaException(operation, -result, Native.NativeMethods.LastErrorText());
        }
    }

    private static string Describe(int errno) => errno switch
    {
        1 => "EPERM",
        2 => "ENOENT",
        5 => "EIO",
        11 => "EAGAIN",
        12 => "ENOMEM",
        16 => "EBUSY",
        19 => "ENODEV",
        22 => "EINVAL",
        34 => "ERANGE",
        38 => "ENOSYS",
        61 => "ENODATA",
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        _ => "see errno(3)",
    };
}
