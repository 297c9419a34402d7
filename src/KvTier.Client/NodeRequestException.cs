using KvTier.Transport;

namespace KvTier.Client;

/// <summary>A node refused a whole request (for example an unknown namespace, a malformed request, or draining).</summary>
public sealed class NodeRequestException : IOException
{
    /// <summary>Creates the exception for a refused request.</summary>
    public NodeRequestException(FrameStatus status, string message)
        : base(message) => Status = status;

    /// <summary>The node's answer.</summary>
    public FrameStatus Status { get; }
}
