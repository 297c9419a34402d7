using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KvTier.Node.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace KvTier.Node.Security;

/// <summary>
/// The node's TLS material, loaded once at start from <see cref="TlsOptions"/>: its certificate and key (PEM), the
/// intermediates that follow the certificate in its file, and the CA bundle client certificates must chain to
/// (mutual TLS). Builds the settings of the data plane's <see cref="SslStream"/> and of Kestrel's HTTPS endpoints,
/// so both planes present the same certificate and apply the same client policy.
/// </summary>
public sealed class NodeTls : IDisposable
{
    private readonly X509Certificate2Collection intermediates;
    private readonly X509Certificate2Collection? clientAuthorities;
    private readonly SslStreamCertificateContext context;

    private NodeTls(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection? clientAuthorities,
        SslProtocols protocols)
    {
        Certificate = certificate;
        this.intermediates = intermediates;
        this.clientAuthorities = clientAuthorities;
        Protocols = protocols;
        context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    /// <summary>The node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>TLS versions accepted.</summary>
    public SslProtocols Protocols { get; }

    /// <summary>Whether clients must present a certificate that chains to the client CA bundle.</summary>
    public bool RequiresClientCertificate => clientAuthorities is not null;

    /// <summary>Loads the files named by <paramref name="options"/>.</summary>
    /// <exception cref="InvalidDataException">A file cannot be read or holds no usable certificate or key; the message
    /// names the file.</exception>
    public static NodeTls Load(TlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var certificateFile = options.CertificateFile!;
        var keyFile = options.KeyFile!;
        X509Certificate2 certificate;
        X509Certificate2Collection chain;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
            chain = [];
            chain.ImportFromPemFile(certificateFile);
        }
        catch (Exception error) when (error is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidDataException(
                $"Tls:CertificateFile '{certificateFile}' with Tls:KeyFile '{keyFile}' is not a usable PEM certificate and private key: {error.Message}", error);
        }

        var intermediates = new X509Certificate2Collection();
        foreach (var extra in chain)
        {
            if (extra.Thumbprint != certificate.Thumbprint)
            {
                intermediates.Add(extra);
            }
        }

        X509Certificate2Collection? authorities = null;
        if (!string.IsNullOrWhiteSpace(options.ClientCaFile))
        {
            authorities = LoadBundle(options.ClientCaFile, "Tls:ClientCaFile");
        }

        var protocols = options.MinimumVersion == "1.3" ? SslProtocols.Tls13 : SslProtocols.Tls12 | SslProtocols.Tls13;
        return new NodeTls(certificate, intermediates, authorities, protocols);
    }

    /// <summary>Reads a PEM bundle of CA certificates.</summary>
    /// <exception cref="InvalidDataException">The file cannot be read or holds no certificate.</exception>
    public static X509Certificate2Collection LoadBundle(string path, string setting)
    {
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPemFile(path);
        }
        catch (Exception error) when (error is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{setting} '{path}' is not a readable PEM certificate bundle: {error.Message}", error);
        }

        return bundle.Count > 0 ? bundle : throw new InvalidDataException($"{setting} '{path}' holds no PEM certificate.");
    }

    /// <summary>Settings for the data plane's TLS handshakes.</summary>
    public SslServerAuthenticationOptions DataPlane() => new()
    {
        ServerCertificateContext = context,
        EnabledSslProtocols = Protocols,
        ClientCertificateRequired = RequiresClientCertificate,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = RequiresClientCertificate
            ? (_, certificate, _, _) => certificate is X509Certificate2 client && IsTrustedClient(client)
            : null,
    };

    /// <summary>Applies the same certificate, versions and client policy to a Kestrel HTTPS endpoint.</summary>
    /// <param name="https">Kestrel's HTTPS settings for one endpoint.</param>
    /// <param name="clientCertificates">Apply the client-certificate policy (false for metrics and health, which
    /// Prometheus and kubelet reach without a client certificate).</param>
    public void Configure(HttpsConnectionAdapterOptions https, bool clientCertificates)
    {
        ArgumentNullException.ThrowIfNull(https);
        https.ServerCertificate = Certificate;
        https.ServerCertificateChain = intermediates;
        https.SslProtocols = Protocols;
        https.CheckCertificateRevocation = false;
        if (clientCertificates && RequiresClientCertificate)
        {
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (certificate, _, _) => IsTrustedClient(certificate);
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var certificate in intermediates)
        {
            certificate.Dispose();
        }

        foreach (var certificate in clientAuthorities ?? [])
        {
            certificate.Dispose();
        }
    }

    /// <summary>Whether a client certificate chains to the client CA bundle (and only to it) and is within its
    /// validity period.</summary>
    private bool IsTrustedClient(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(clientAuthorities!);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
