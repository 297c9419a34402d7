using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KvTier.Testing;

/// <summary>
/// A throwaway PKI made at test time with <see cref="CertificateRequest"/> and written as PEM files to a temporary
/// folder: a CA, a server certificate for "localhost" and 127.0.0.1, a client certificate, an expired server
/// certificate, and a second CA that signed none of them.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory) => Directory = directory;

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");

    public string OtherCaFile => Path.Combine(Directory, "other-ca.pem");

    public string ServerCertificateFile => Path.Combine(Directory, "server.pem");

    public string ServerKeyFile => Path.Combine(Directory, "server.key");

    public string ExpiredCertificateFile => Path.Combine(Directory, "expired.pem");

    public string ExpiredKeyFile => Path.Combine(Directory, "expired.key");

    public string ClientCertificateFile => Path.Combine(Directory, "client.pem");

    public string ClientKeyFile => Path.Combine(Directory, "client.key");

    public static TestCertificates Create()
    {
        var certificates = new TestCertificates(System.IO.Directory.CreateTempSubdirectory("kvtier-pki-").FullName);
        var now = DateTimeOffset.UtcNow;
        using var ca = CreateAuthority("CN=KvTier Test CA", now);
        using var otherCa = CreateAuthority("CN=Some Other CA", now);
        File.WriteAllText(certificates.CaFile, ca.ExportCertificatePem());
        File.WriteAllText(certificates.OtherCaFile, otherCa.ExportCertificatePem());
        Issue(ca, "CN=localhost", serverAuth: true, now.AddDays(-1), now.AddDays(1), certificates.ServerCertificateFile, certificates.ServerKeyFile);
        Issue(ca, "CN=localhost", serverAuth: true, now.AddDays(-3), now.AddDays(-2), certificates.ExpiredCertificateFile, certificates.ExpiredKeyFile);
        Issue(ca, "CN=kvtier-test-client", serverAuth: false, now.AddDays(-1), now.AddDays(1), certificates.ClientCertificateFile, certificates.ClientKeyFile);
        return certificates;
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private static X509Certificate2 CreateAuthority(string subject, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(now.AddDays(-10), now.AddDays(10));
    }

    private static void Issue(X509Certificate2 authority, string subject, bool serverAuth, DateTimeOffset notBefore, DateTimeOffset notAfter,
        string certificateFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        if (serverAuth)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, true, false));
        using var certificate = request.Create(authority, notBefore, notAfter, RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
    }
}
