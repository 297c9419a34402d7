using System.Security.Authentication;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Core;
using KvTier.Node;
using KvTier.Node.Hosting;
using KvTier.Node.Tests;
using KvTier.Testing;
using KvTier.Transport;
using KvTier.Transport.ControlPlane;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using NodeInfo = KvTier.BlockDirectory.NodeInfo;

namespace KvTier.Client.Tests;

/// <summary>The client against real kvtier-node processes that require TLS (with client certificates) and tenant tokens.</summary>
public sealed class SecureDaemonTests : IDisposable
{
    private static readonly KvNamespace NamespaceA = TestCluster.Namespace(tenant: "a");
    private static readonly KvNamespace NamespaceB = TestCluster.Namespace(tenant: "b");
    private readonly TestCertificates certificates = TestCertificates.Create();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => certificates.Dispose();

    [Fact]
    public async Task Blocks_stored_through_mutual_TLS_with_a_token_load_back_exactly()
    {
        await using var node = await StartSecureNodeAsync();
        await using var directory = await DirectoryOfAsync(node);
        await using var client = new KvTierClient(directory, ClientOptions(SecureNodes.TenantAToken));
        var chain = TestCluster.Chain(12, seed: 5);
        var source = TestCluster.RandomBlocks(NamespaceA, 12, seed: 6);

        Assert.Equal(new StoreResult(12, 0, 0), await client.StoreAsync(NamespaceA, chain, 0, source, Token));
        var prefix = await client.LookupAsync(NamespaceA, chain, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(NamespaceA, prefix, destination, null, Token);

        Assert.Equal(12, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
    }

    [Fact]
    public async Task A_lease_taken_by_one_tenant_cannot_be_read_or_released_by_another()
    {
        await using var node = await StartSecureNodeAsync();
        await using var directory = await DirectoryOfAsync(node);
        await using var client = new KvTierClient(directory, ClientOptions(SecureNodes.TenantAToken));
        var chain = TestCluster.Chain(2, seed: 7);
        await client.StoreAsync(NamespaceA, chain, 0, TestCluster.RandomBlocks(NamespaceA, 2, seed: 8), Token);
        await using var tenantA = await ConnectAsync(node, SecureNodes.TenantAToken);
        await using var tenantB = await ConnectAsync(node, SecureNodes.TenantBToken);
        var layers = NamespaceA.Layout.Layers;

        var (leased, extents) = await DataPlaneCalls.LeaseAsync(tenantA, FrameLimits.Default, NamespaceA.Id, 0, layers, TimeSpan.FromSeconds(10), chain, Token);
        Assert.All(leased, block => Assert.Equal(FrameStatus.Ok, block.Status));
        var items = new[] { new ExtentIo(leased[0].Handle, extents[0].Offset, extents[0].Length) };

        Assert.Equal([FrameStatus.Expired], await ReadStatusesAsync(tenantB, items));
        Assert.Equal([FrameStatus.Expired, FrameStatus.Expired],
            await DataPlaneCalls.ReleaseAsync(tenantB, [leased[0].Handle, leased[1].Handle], Token));
        Assert.Equal([FrameStatus.Ok], await ReadStatusesAsync(tenantA, items));
        Assert.Equal([FrameStatus.Ok, FrameStatus.Ok], await DataPlaneCalls.ReleaseAsync(tenantA, [leased[0].Handle, leased[1].Handle], Token));
    }

    [Fact]
    public async Task A_token_that_may_not_use_the_namespace_makes_loads_and_stores_throw_instead_of_missing()
    {
        await using var node = await StartSecureNodeAsync();
        await using var directory = await DirectoryOfAsync(node);
        await using var client = new KvTierClient(directory, ClientOptions(SecureNodes.TenantBToken));
        var chain = TestCluster.Chain(3, seed: 9);

        var refused = await Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            client.StoreAsync(NamespaceA, chain, 0, TestCluster.RandomBlocks(NamespaceA, 3, seed: 10), Token));
        Assert.Contains("may not use the namespace", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clients_with_the_wrong_TLS_settings_or_token_get_an_exception_that_says_why()
    {
        await using var node = await StartSecureNodeAsync();
        await using var directory = await DirectoryOfAsync(node);
        var chain = TestCluster.Chain(1, seed: 11);
        var source = TestCluster.RandomBlocks(NamespaceA, 1, seed: 12);

        await using (var plain = new KvTierClient(directory, ClientOptions(SecureNodes.TenantAToken) with { Tls = null }))
        {
            var error = await Assert.ThrowsAsync<AuthenticationException>(() => plain.StoreAsync(NamespaceA, chain, 0, source, Token));
            Assert.Contains("requires TLS", error.Message, StringComparison.Ordinal);
        }

        await using (var untrusting = new KvTierClient(directory, ClientOptions(SecureNodes.TenantAToken) with
        {
            Tls = ClientOptions(null).Tls! with { TrustedCaFile = certificates.OtherCaFile },
        }))
        {
            var error = await Assert.ThrowsAsync<AuthenticationException>(() => untrusting.StoreAsync(NamespaceA, chain, 0, source, Token));
            Assert.Contains("TLS handshake", error.Message, StringComparison.Ordinal);
        }

        await using (var forged = new KvTierClient(directory, ClientOptions("forged-token")))
        {
            var error = await Assert.ThrowsAsync<AuthenticationException>(() => forged.StoreAsync(NamespaceA, chain, 0, source, Token));
            Assert.Contains("token is not valid", error.Message, StringComparison.Ordinal);
        }

        var missing = Assert.Throws<ArgumentException>(() => new KvTierClient(directory, ClientOptions(null) with
        {
            Tls = new KvTierTlsOptions { TrustedCaFile = Path.Combine(certificates.Directory, "missing.pem") },
        }));
        Assert.Contains("missing.pem", missing.Message, StringComparison.Ordinal);
    }

    private KvTierClientOptions ClientOptions(string? token) => new()
    {
        Token = token,
        RequestTimeout = TimeSpan.FromSeconds(10),
        MembershipCacheTime = TimeSpan.Zero,
        Tls = new KvTierTlsOptions
        {
            TrustedCaFile = certificates.CaFile,
            ServerName = "localhost",
            ClientCertificateFile = certificates.ClientCertificateFile,
            ClientKeyFile = certificates.ClientKeyFile,
        },
    };

    private async Task<NodeProcess> StartSecureNodeAsync()
    {
        var tokens = SecureNodes.WriteTokensFile(certificates.Directory, NamespaceA.Id, NamespaceB.Id);
        var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            [.. SecureNodes.TlsArguments(certificates, requireClientCertificate: true), "--tokens-file", tokens]), Token);
        using var channel = SecureNodes.Control(node, certificates, clientCertificate: true);
        var control = new NodeControl.NodeControlClient(channel);
        foreach (var ns in new[] { NamespaceA, NamespaceB })
        {
            await control.RegisterNamespaceAsync(new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(ns) },
                SecureNodes.Bearer(SecureNodes.AdminToken), cancellationToken: Token);
        }

        return node;
    }

    /// <summary>An in-process directory listing the node (the node itself publishes to its own directory).</summary>
    private static async Task<IBlockDirectory> DirectoryOfAsync(NodeProcess node)
    {
        var directory = new InProcessBlockDirectory();
        await directory.RegisterNodeAsync(new NodeInfo(NodeIdentity.ToNodeId($"secure-{node.Id}"), 1, node.DataPlane.ToString(),
            node.ControlPlane.ToString(), false, 16L << 20, 16L << 20), TimeSpan.FromMinutes(5), Token);
        return directory;
    }

    private Task<FrameConnection> ConnectAsync(NodeProcess node, string token) =>
        FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates, token, clientCertificate: true), Token);

    private static async Task<FrameStatus[]> ReadStatusesAsync(FrameConnection connection, ExtentIo[] items)
    {
        var body = new byte[ExtentIoRequest.MeasureHead(items.Length)];
        var writer = new BodyWriter(body);
        ExtentIoRequest.WriteHead(ref writer, items);
        using var sink = new BufferedResponseSink();
        var header = await connection.SendAsync(Opcode.ReadExtents, body, sink, Token);
        Assert.Equal(FrameStatus.Ok, header.Status);
        var statuses = new FrameStatus[items.Length];
        var reader = new BodyReader(sink.Body.Span);
        StatusBatch.Read(ref reader, items.Length, statuses);
        return statuses;
    }
}
