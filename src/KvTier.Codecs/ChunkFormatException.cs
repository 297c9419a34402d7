namespace KvTier.Codecs;

/// <summary>An encoded chunk is truncated, corrupt, of an unknown codec or data type, or does not fit the buffer it
/// is decoded into. Nothing was written outside the given spans; the destination's content is unspecified. An
/// <see cref="IOException"/> (<see cref="InvalidDataException"/> is sealed), so I/O paths that catch it see it.</summary>
public sealed class ChunkFormatException : IOException
{
    /// <summary>Creates the exception with a message that names the offending value.</summary>
    public ChunkFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public ChunkFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public ChunkFormatException()
        : base("The encoded chunk is malformed.")
    {
    }
}
