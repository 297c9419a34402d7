using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using KvTier.Core;
using KvTier.Node.Security;
using KvTier.Testing;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Tests;

/// <summary>What tests of TLS and tenant authentication share: tokens, the tokens file, node arguments, and
/// data-plane and gRPC connections with or without the test PKI.</summary>
internal static class SecureNodes
{
    public const string TenantAToken = "tenant-a-secret-token";
    public const string TenantBToken = "tenant-b-secret-token";
    public const string AdminToken = "admin-secret-token";

    /// <summary>Writes a tokens file: tenant a may use <paramref name="namespaceA"/>, tenant b
    /// <paramref name="namespaceB"/>, the admin every namespace.</summary>
    public static string WriteTokensFile(string directory, NamespaceId namespaceA, NamespaceId namespaceB)
    {
        var path = Path.Combine(directory, "tokens.json");
        var tokens = new
        {
            tokens = new object[]
            {
                new { tenant = "a", sha256 = TenantTokens.HashOf(TenantAToken), namespaces = new[] { namespaceA.ToString() } },
                new { tenant = "b", sha256 = TenantTokens.HashOf(TenantBToken), namespaces = new[] { namespaceB.ToString() } },
                new { tenant = "ops", sha256 = TenantTokens.HashOf(AdminToken), namespaces = new[] { "*" }, admin = true },
            },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(tokens));
        return path;
    }

    /// <summary>Node arguments for TLS with the test server certificate (and mutual TLS when asked).</summary>
    public static string[] TlsArguments(TestCertificates certificates, bool requireClientCertificate = false) => requireClientCertificate
        ? ["--tls-cert", certificates.ServerCertificateFile, "--tls-key", certificates.ServerKeyFile, "--tls-client-ca", certificates.CaFile]
        : ["--tls-cert", certificates.ServerCertificateFile, "--tls-key", certificates.ServerKeyFile];

    /// <summary>Data-plane connection settings: TLS trusting <paramref name="caFile"/> (when given), the client
    /// certificate (when asked), and a token.</summary>
    public static FrameConnectionOptions DataPlane(TestCertificates? certificates, string? token = null, bool clientCertificate = false,
        string? caFile = null) => new()
        {
            Token = token,
            Tls = certificates is null ? null : ClientTls(certificates, caFile ?? certificates.CaFile, clientCertificate, "localhost"),
        };

    /// <summary>A gRPC channel to the node's control plane (https with the test CA when <paramref name="certificates"/>
    /// is given).</summary>
    public static GrpcChannel Control(NodeProcess node, TestCertificates? certificates, bool clientCertificate = false)
    {
        if (certificates is null)
        {
            return GrpcChannel.ForAddress($"http://{node.ControlPlane}");
        }

        var handler = new SocketsHttpHandler { SslOptions = ClientTls(certificates, certificates.CaFile, clientCertificate, targetHost: null) };
        return GrpcChannel.ForAddress($"https://{node.ControlPlane}", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    /// <summary>Call metadata carrying a bearer token.</summary>
    public static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };

    private static SslClientAuthenticationOptions ClientTls(TestCertificates certificates, string caFile, bool clientCertificate, string? targetHost)
    {
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.ImportFromPemFile(caFile);
        var tls = new SslClientAuthenticationOptions { TargetHost = targetHost, CertificateChainPolicy = policy };
        if (clientCertificate)
        {
            tls.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificates.ClientCertificateFile, certificates.ClientKeyFile)];
        }

        return tls;
    }
}
