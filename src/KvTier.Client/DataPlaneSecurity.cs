using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>Turns the client's TLS and token settings into the transport's connection options, loading the PEM
/// files once.</summary>
internal static class DataPlaneSecurity
{
    /// <exception cref="ArgumentException">A TLS file is missing or unusable; the message names the setting and file.</exception>
    public static FrameConnectionOptions ConnectionOptions(KvTierClientOptions options) => new()
    {
        Limits = options.Limits,
        Token = options.Token,
        Tls = options.Tls is null ? null : ClientTls(options.Tls),
    };

    private static SslClientAuthenticationOptions ClientTls(KvTierTlsOptions tls)
    {
        var settings = new SslClientAuthenticationOptions
        {
            TargetHost = tls.ServerName,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (tls.TrustedCaFile is not null)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            policy.CustomTrustStore.AddRange(Load(() =>
            {
                var bundle = new X509Certificate2Collection();
                bundle.ImportFromPemFile(tls.TrustedCaFile);
                return bundle.Count > 0 ? bundle : throw new CryptographicException("no PEM certificate in the file");
            }, nameof(KvTierTlsOptions.TrustedCaFile), tls.TrustedCaFile));
            settings.CertificateChainPolicy = policy;
        }

        if (tls.ClientCertificateFile is not null || tls.ClientKeyFile is not null)
        {
            if (tls.ClientCertificateFile is null || tls.ClientKeyFile is null)
            {
                throw new ArgumentException("Tls.ClientCertificateFile and Tls.ClientKeyFile must be set together.", nameof(tls));
            }

            var certificate = Load(() => X509Certificate2.CreateFromPemFile(tls.ClientCertificateFile, tls.ClientKeyFile),
                nameof(KvTierTlsOptions.ClientCertificateFile), tls.ClientCertificateFile);
            settings.ClientCertificateContext = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
        }

        return settings;
    }

    private static T Load<T>(Func<T> load, string setting, string path)
    {
        try
        {
            return load();
        }
        catch (Exception error) when (error is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"Tls.{setting} '{path}' is not usable: {error.Message}", setting, error);
        }
    }
}
