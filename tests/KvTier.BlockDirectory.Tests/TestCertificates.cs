using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace KvTier.BlockDirectory.Tests;

/// <summary>A self-signed certificate for "localhost" written as PEM files (its own CA), deleted on dispose.</summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly string directory;

    private TestCertificates(string directory) => this.directory = directory;

    public string CertificatePath => Path.Combine(directory, "server.crt");

    public string KeyPath => Path.Combine(directory, "server.key");

    public static TestCertificates Create()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"kvtier-tls-{Guid.NewGuid():n}");
        System.IO.Directory.CreateDirectory(directory);
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certificates = new TestCertificates(directory);
        File.WriteAllText(certificates.CertificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(certificates.KeyPath, key.ExportPkcs8PrivateKeyPem());
        return certificates;
    }

    public void Dispose() => System.IO.Directory.Delete(directory, recursive: true);
}
