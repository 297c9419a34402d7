namespace KvTier.Transport;

/// <summary>A peer sent bytes that do not follow the data-plane protocol (bad magic, unknown version, a size
/// field over its limit, a truncated body). The connection that carried them cannot be trusted any more.</summary>
public sealed class ProtocolViolationException : FormatException
{
    /// <summary>Creates the exception with a message that names the offending field and value.</summary>
    public ProtocolViolationException(string message)
        : base(message)
    {
    }
}
