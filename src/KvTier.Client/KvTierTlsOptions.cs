namespace KvTier.Client;

/// <summary>TLS to the cache nodes' data plane. Files are PEM and read once, when the <see cref="KvTierClient"/> is
/// created (a bad file fails there, naming it).</summary>
public sealed record KvTierTlsOptions
{
    /// <summary>CA bundle the nodes' certificates must chain to (null: the system's trusted roots).</summary>
    public string? TrustedCaFile { get; init; }

    /// <summary>Name the nodes' certificates must carry (null: the host of each node's advertised address).</summary>
    public string? ServerName { get; init; }

    /// <summary>Client certificate for nodes that require one (mutual TLS); needs <see cref="ClientKeyFile"/>.</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>Private key of <see cref="ClientCertificateFile"/>.</summary>
    public string? ClientKeyFile { get; init; }
}
