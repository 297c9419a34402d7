using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Benchmarks;

/// <summary>
/// What TLS costs on the data plane: one request answered with <see cref="PayloadBytes"/> bytes over a loopback
/// <see cref="FrameServer"/> and <see cref="FrameConnection"/>, plain TCP (the baseline, same run) beside TLS 1.3
/// (AES-GCM chosen by the platform). The answer is read into a pooled buffer, as a client's sink would.
/// </summary>
[MemoryDiagnoser]
public class DataPlaneTlsBenchmarks
{
    private FrameServer server = null!;
    private FrameConnection connection = null!;
    private X509Certificate2 certificate = null!;
    private byte[] request = null!;

    /// <summary>Answer size: one 64 KiB chunk or one 2 MiB block.</summary>
    [Params(64 << 10, 2 << 20)]
    public int PayloadBytes { get; set; }

    /// <summary>Plain TCP (baseline) or TLS.</summary>
    [Params(false, true)]
    public bool Tls { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var certificateRequest = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var selfSigned = certificateRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the key is usable by the TLS stack on every platform.
        certificate = X509CertificateLoader.LoadPkcs12(selfSigned.Export(X509ContentType.Pkcs12), null);
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), new PayloadHandler(),
            new FrameServerOptions
            {
                Tls = Tls ? new SslServerAuthenticationOptions { ServerCertificate = certificate } : null,
            },
            NullLogger.Instance);
        server.Start();
        connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions
        {
            Tls = Tls
                ? new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    RemoteCertificateValidationCallback = (_, presented, _, _) => presented?.GetCertHashString() == certificate.GetCertHashString(),
                }
                : null,
        }, CancellationToken.None);
        request = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(request, PayloadBytes);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await connection.DisposeAsync();
        await server.DisposeAsync();
        certificate.Dispose();
    }

    [Benchmark]
    public async Task<int> Request()
    {
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(Opcode.Ping, request, sink, CancellationToken.None);
        return header.BodyLength;
    }

    private sealed class PayloadHandler : IFrameHandler
    {
        private readonly byte[] payload = RandomNumberGenerator.GetBytes(2 << 20);

        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            responder.SendAsync(FrameStatus.Ok, payload.AsMemory(0, BinaryPrimitives.ReadInt32LittleEndian(request.Body.Span)), cancellationToken);
    }
}
