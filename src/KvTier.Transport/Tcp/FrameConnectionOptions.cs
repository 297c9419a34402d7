using System.Net.Security;

namespace KvTier.Transport.Tcp;

/// <summary>How a <see cref="FrameConnection"/> opens: limits, TLS and the bearer token sent in its
/// <see cref="Opcode.Authenticate"/> frame.</summary>
public sealed record FrameConnectionOptions
{
    /// <summary>Protocol limits (must not exceed the node's).</summary>
    public FrameLimits Limits { get; init; } = FrameLimits.Default;

    /// <summary>When set, the connection is wrapped in TLS with these settings. An empty
    /// <see cref="SslClientAuthenticationOptions.TargetHost"/> means "the host of the endpoint" (per connection).</summary>
    public SslClientAuthenticationOptions? Tls { get; init; }

    /// <summary>Bearer token presented in the Authenticate frame (null: an empty one, which a node without
    /// authentication accepts).</summary>
    public string? Token { get; init; }
}
