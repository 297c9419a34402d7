namespace KvTier.Workloads;

/// <summary>A trace line that is not a valid request; the message names the file, the line and what is wrong.</summary>
public sealed class TraceFormatException : FormatException
{
    /// <summary>Creates the error for <paramref name="lineNumber"/> of <paramref name="source"/>.</summary>
    public TraceFormatException(string source, int lineNumber, string problem, Exception? inner = null)
        : base($"{source}:{lineNumber}: {problem}", inner)
    {
        Source = source;
        LineNumber = lineNumber;
    }

    /// <summary>An empty error (required by the exception pattern).</summary>
    public TraceFormatException()
    {
    }

    /// <summary>An error with a message only.</summary>
    public TraceFormatException(string message)
        : base(message)
    {
    }

    /// <summary>An error with a message and cause.</summary>
    public TraceFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>1-based line number of the bad line.</summary>
    public int LineNumber { get; }
}
