using System.Net.Security;

namespace KvTier.Transport.Tcp;

/// <summary>How a <see cref="FrameServer"/> accepts and serves connections: limits, TLS, authentication and the
/// request observer. Without <see cref="Tls"/> and <see cref="Authenticator"/> it serves plain text to anyone, as before.</summary>
public sealed record FrameServerOptions
{
    /// <summary>Protocol limits checked on every frame.</summary>
    public FrameLimits Limits { get; init; } = FrameLimits.Default;

    /// <summary>Most open connections; more are refused.</summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>When set, every connection is wrapped in TLS with these settings (certificate, client certificate
    /// policy, versions). A plain-text KvTier frame on such a server is answered
    /// <see cref="FrameStatus.Unauthorized"/> with the reason, then the connection closes.</summary>
    public SslServerAuthenticationOptions? Tls { get; init; }

    /// <summary>When set, a connection's first frame must be <see cref="Opcode.Authenticate"/> with a token it accepts;
    /// any other first frame is answered <see cref="FrameStatus.Unauthorized"/> and the connection closes.</summary>
    public IFrameAuthenticator? Authenticator { get; init; }

    /// <summary>Sees every answered request (metrics).</summary>
    public IFrameRequestObserver? Observer { get; init; }

    /// <summary>This run of the node, named in the answer to <see cref="Opcode.Authenticate"/> so clients notice a
    /// restart (a shared-memory client then maps the new arena file).</summary>
    public Guid Instance { get; init; } = Guid.NewGuid();

    /// <summary>How long a new connection may take to finish its TLS handshake.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
