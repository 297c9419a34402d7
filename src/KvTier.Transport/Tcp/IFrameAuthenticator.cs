namespace KvTier.Transport.Tcp;

/// <summary>Decides whether the bearer token of a connection's <see cref="Opcode.Authenticate"/> frame is valid. With
/// an authenticator, a <see cref="FrameServer"/> serves nothing on a connection before it authenticated.</summary>
public interface IFrameAuthenticator
{
    /// <summary>The principal the token stands for (exposed to handlers as
    /// <see cref="FrameConnectionContext.Principal"/>), or null when the token is unknown. Must not allocate per call
    /// beyond what the check needs, and must compare in constant time.</summary>
    object? Authenticate(ReadOnlySpan<byte> token);
}
