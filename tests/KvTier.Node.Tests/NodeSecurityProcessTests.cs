using System.IO.Hashing;
using System.Security.Authentication;
using Grpc.Core;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Testing;
using KvTier.Transport;
using KvTier.Transport.ControlPlane;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Tests;

/// <summary>TLS and tenant authentication of real kvtier-node processes on loopback.</summary>
public sealed class NodeSecurityProcessTests : IDisposable
{
    private static readonly KvNamespace NamespaceA = Namespace("a");
    private static readonly KvNamespace NamespaceB = Namespace("b");
    private readonly TestCertificates certificates = TestCertificates.Create();

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => certificates.Dispose();

    [Fact]
    public async Task A_TLS_node_serves_trusting_clients_and_refuses_plain_text_and_untrusting_ones_while_it_keeps_serving()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments([.. SecureNodes.TlsArguments(certificates)]), Token);
        await using var trusting = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates), Token);
        Assert.Equal(FrameStatus.Ok, await PingAsync(trusting));

        var plain = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null), Token));
        Assert.Contains("requires TLS", plain.Message, StringComparison.Ordinal);

        var untrusting = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates, caFile: certificates.OtherCaFile), Token));
        Assert.Contains($"TLS handshake with node {node.DataPlane} failed", untrusting.Message, StringComparison.Ordinal);
        Assert.Contains("errors in the certificate chain", untrusting.Message, StringComparison.Ordinal);

        // The node logged both (the untrusting client hung up after a handshake that completed on the node's side) and
        // still serves the connection it had and new ones.
        await WaitForLogAsync(node, "Refusing plain-text data-plane connection");
        await WaitForLogAsync(node, "closed before its first frame: the client may have refused the node certificate");
        Assert.Equal(FrameStatus.Ok, await PingAsync(trusting));
        await using var another = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates), Token);
        Assert.Equal(FrameStatus.Ok, await PingAsync(another));
    }

    [Fact]
    public async Task A_client_refuses_an_expired_node_certificate_and_says_so()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            "--tls-cert", certificates.ExpiredCertificateFile, "--tls-key", certificates.ExpiredKeyFile), Token);

        var refused = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates), Token));

        Assert.Contains("TLS handshake", refused.Message, StringComparison.Ordinal);
        Assert.Contains("NotTimeValid", refused.Message, StringComparison.Ordinal);
        await WaitForLogAsync(node, "outside its validity period");
    }

    [Fact]
    public async Task Mutual_TLS_refuses_clients_without_a_certificate_on_both_planes_and_serves_those_with_one()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            [.. SecureNodes.TlsArguments(certificates, requireClientCertificate: true)]), Token);

        var anonymous = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates), Token));
        Assert.Contains(node.DataPlane.ToString(), anonymous.Message, StringComparison.Ordinal);
        await WaitForLogAsync(node, "TLS handshake with data-plane peer");
        await using var identified = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(certificates, clientCertificate: true), Token);
        Assert.Equal(FrameStatus.Ok, await PingAsync(identified));

        using var withCertificate = SecureNodes.Control(node, certificates, clientCertificate: true);
        var info = await new NodeControl.NodeControlClient(withCertificate).GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token);
        Assert.Equal((uint)node.DataPlane.Port, info.DataPlanePort);
        using var withoutCertificate = SecureNodes.Control(node, certificates);
        await Assert.ThrowsAsync<RpcException>(async () =>
            await new NodeControl.NodeControlClient(withoutCertificate).GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token));
    }

    [Fact]
    public async Task The_control_plane_serves_grpc_over_TLS_and_not_in_plain_text()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments([.. SecureNodes.TlsArguments(certificates)]), Token);

        using var secure = SecureNodes.Control(node, certificates);
        var info = await new NodeControl.NodeControlClient(secure).GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token);
        Assert.Equal(KvTier.Transport.ControlPlane.NodeState.Serving, info.State);

        using var plain = SecureNodes.Control(node, certificates: null);
        await Assert.ThrowsAsync<RpcException>(async () =>
            await new NodeControl.NodeControlClient(plain).GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token));
    }

    [Fact]
    public async Task Without_a_valid_token_the_data_plane_refuses_the_connection_and_keeps_serving_others()
    {
        await using var node = await StartWithTokensAsync();
        await using var tenant = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null, SecureNodes.TenantAToken), Token);

        var none = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null), Token));
        Assert.Contains("Unauthorized", none.Message, StringComparison.Ordinal);
        Assert.Contains("requires authentication", none.Message, StringComparison.Ordinal);
        var wrong = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null, "not-a-token"), Token));
        Assert.Contains("token is not valid", wrong.Message, StringComparison.Ordinal);

        // A peer that skips the Authenticate frame gets Unauthorized for its first request, then the node closes.
        await using var unauthenticated = await FrameConnection.ConnectAsync(node.DataPlane, FrameLimits.Default, Token);
        Assert.Equal(FrameStatus.Unauthorized, await PingAsync(unauthenticated));
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            while (true)
            {
                await PingAsync(unauthenticated);
                await Task.Delay(20, Token);
            }
        });

        Assert.Equal(FrameStatus.Ok, await PingAsync(tenant));
    }

    [Fact]
    public async Task A_tenant_is_refused_namespaces_it_may_not_use_one_request_at_a_time()
    {
        await using var node = await StartWithTokensAsync();
        await RegisterAsync(node, NamespaceA, NamespaceB);
        await using var tenantA = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null, SecureNodes.TenantAToken), Token);
        await using var admin = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null, SecureNodes.AdminToken), Token);

        Assert.Equal(FrameStatus.Unauthorized, await ContainsAsync(tenantA, NamespaceB.Id));
        Assert.Equal(FrameStatus.Ok, await ContainsAsync(tenantA, NamespaceA.Id));
        Assert.Equal(FrameStatus.Ok, await PingAsync(tenantA));
        Assert.Equal(FrameStatus.Ok, await ContainsAsync(admin, NamespaceB.Id));
        // PutBlocks bodies are streamed: the namespace is checked before any payload byte is taken.
        Assert.Equal(FrameStatus.Unauthorized, await PutAsync(tenantA, NamespaceB.Id));
        Assert.Equal(FrameStatus.Ok, await PutAsync(tenantA, NamespaceA.Id));
        Assert.Equal(FrameStatus.Ok, await PingAsync(tenantA));
    }

    [Fact]
    public async Task Control_plane_calls_need_a_valid_token_and_admin_calls_an_admin_token()
    {
        await using var node = await StartWithTokensAsync();
        using var channel = SecureNodes.Control(node, certificates: null);
        var control = new NodeControl.NodeControlClient(channel);
        var register = new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(NamespaceA) };

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await control.GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        var forged = await Assert.ThrowsAsync<RpcException>(async () =>
            await control.GetNodeInfoAsync(new GetNodeInfoRequest(), SecureNodes.Bearer("forged"), cancellationToken: Token));
        Assert.Equal(StatusCode.Unauthenticated, forged.StatusCode);

        var tenant = SecureNodes.Bearer(SecureNodes.TenantAToken);
        Assert.Equal((uint)node.DataPlane.Port, (await control.GetNodeInfoAsync(new GetNodeInfoRequest(), tenant, cancellationToken: Token)).DataPlanePort);
        Assert.Empty((await control.ListNamespacesAsync(new ListNamespacesRequest(), tenant, cancellationToken: Token)).NamespaceIds);
        foreach (var call in new Func<Task>[]
        {
            async () => await control.RegisterNamespaceAsync(register, tenant, cancellationToken: Token),
            async () => await control.DropNamespaceAsync(new DropNamespaceRequest { NamespaceId = NamespaceA.Id.Value }, tenant, cancellationToken: Token),
            async () => await control.DrainAsync(new DrainRequest(), tenant, cancellationToken: Token),
        })
        {
            Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(call)).StatusCode);
        }

        var admin = SecureNodes.Bearer(SecureNodes.AdminToken);
        Assert.Equal(NamespaceA.Id.Value, (await control.RegisterNamespaceAsync(register, admin, cancellationToken: Token)).NamespaceId);
        Assert.Equal(KvTier.Transport.ControlPlane.NodeState.Serving,
            (await control.GetNodeInfoAsync(new GetNodeInfoRequest(), admin, cancellationToken: Token)).State);
    }

    [Fact]
    public async Task Namespaces_registered_over_the_control_plane_survive_a_killed_node()
    {
        using var data = new TemporaryDirectory();
        string[] arguments = [.. NodeProcess.LoopbackArguments("--nvme-dir", data.Path, "--nvme-size", "64MiB")];
        await using (var node = await NodeProcess.StartAsync(arguments, Token))
        {
            await RegisterAsync(node, NamespaceA, NamespaceB);
            using var channel = SecureNodes.Control(node, certificates: null);
            await new NodeControl.NodeControlClient(channel).DropNamespaceAsync(new DropNamespaceRequest { NamespaceId = NamespaceB.Id.Value }, cancellationToken: Token);
            node.Signal("KILL");
            await node.WaitForExitAsync(Token);
        }

        await using var restarted = await NodeProcess.StartAsync(arguments, Token);
        using var control = SecureNodes.Control(restarted, certificates: null);
        var listed = await new NodeControl.NodeControlClient(control).ListNamespacesAsync(new ListNamespacesRequest(), cancellationToken: Token);
        Assert.Equal([NamespaceA.Id.Value], listed.NamespaceIds);
        Assert.Equal(NamespaceA, NamespaceRegistry.FromDescriptor(Assert.Single(listed.Namespaces)));
        await using var connection = await FrameConnection.ConnectAsync(restarted.DataPlane, SecureNodes.DataPlane(null), Token);
        Assert.Equal(FrameStatus.Ok, await ContainsAsync(connection, NamespaceA.Id));
        Assert.Equal(FrameStatus.UnknownNamespace, await ContainsAsync(connection, NamespaceB.Id));
    }

    [Fact]
    public async Task A_corrupt_namespaces_file_stops_the_start_with_its_path_and_the_reason()
    {
        using var data = new TemporaryDirectory();
        string[] arguments = [.. NodeProcess.LoopbackArguments("--nvme-dir", data.Path, "--nvme-size", "64MiB")];
        await using (var node = await NodeProcess.StartAsync(arguments, Token))
        {
            await RegisterAsync(node, NamespaceA);
            node.Signal("KILL");
            await node.WaitForExitAsync(Token);
        }

        var file = Path.Combine(data.Path, NamespaceFile.FileName);
        var bytes = await File.ReadAllBytesAsync(file, Token);
        bytes[^1] ^= 0x40;
        await File.WriteAllBytesAsync(file, bytes, Token);

        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeProcess.StartAsync(arguments, Token));
        Assert.Contains("exited with 1", failed.Message, StringComparison.Ordinal);
        Assert.Contains($"Namespaces file '{file}' is unusable: its checksum does not match", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_metrics_count_and_time_every_opcode_by_status()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(), Token);
        await using (var connection = await FrameConnection.ConnectAsync(node.DataPlane, SecureNodes.DataPlane(null), Token))
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(FrameStatus.Ok, await PingAsync(connection));
            }

            Assert.Equal(FrameStatus.UnknownNamespace, await ContainsAsync(connection, NamespaceA.Id));
        }

        using var http = new HttpClient();
        var metrics = "";
        for (var scrape = 0; scrape < 100 && !metrics.Contains("opcode=\"ContainsBlocks\"", StringComparison.Ordinal); scrape++)
        {
            // Each request is recorded just after its answer was written; the last one may land a moment later.
            metrics = await http.GetStringAsync(new Uri($"http://{node.Http}/metrics"), Token);
            await Task.Delay(50, Token);
        }

        Assert.Contains("# TYPE kvtier_data_plane_request_seconds histogram", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_request_seconds_bucket{opcode=\"Ping\",le=\"+Inf\"} 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_request_seconds_count{opcode=\"Ping\"} 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_requests_total{opcode=\"Ping\",status=\"Ok\"} 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_requests_total{opcode=\"ContainsBlocks\",status=\"UnknownNamespace\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_requests_total{opcode=\"Authenticate\",status=\"Ok\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"kvtier_data_plane_received_bytes_total{{opcode=\"Ping\"}} {5 * FrameHeader.Size}\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"kvtier_data_plane_sent_bytes_total{{opcode=\"Ping\"}} {5 * FrameHeader.Size}\n", metrics, StringComparison.Ordinal);
    }

    private static KvNamespace Namespace(string tenant) =>
        new("tiny", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, 16), tenant, BlockHashAlgorithm.Xxh3, "none", 1000);

    private async Task<NodeProcess> StartWithTokensAsync()
    {
        var tokens = SecureNodes.WriteTokensFile(certificates.Directory, NamespaceA.Id, NamespaceB.Id);
        return await NodeProcess.StartAsync(NodeProcess.LoopbackArguments("--tokens-file", tokens), Token);
    }

    private static async Task RegisterAsync(NodeProcess node, params KvNamespace[] namespaces)
    {
        using var channel = SecureNodes.Control(node, certificates: null);
        var control = new NodeControl.NodeControlClient(channel);
        foreach (var ns in namespaces)
        {
            // The admin token is ignored by a node without authentication.
            await control.RegisterNamespaceAsync(new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(ns) },
                SecureNodes.Bearer(SecureNodes.AdminToken), cancellationToken: Token);
        }
    }

    private static async Task<FrameStatus> PingAsync(FrameConnection connection)
    {
        using var sink = new BufferedResponseSink();
        return (await connection.SendAsync(Opcode.Ping, ReadOnlyMemory<byte>.Empty, sink, Token)).Status;
    }

    private static async Task<FrameStatus> ContainsAsync(FrameConnection connection, NamespaceId ns)
    {
        var body = new byte[ContainsBlocksRequest.MeasureBody(1)];
        ContainsBlocksRequest.Write(body, ns, [new BlockKey(1, 2)]);
        using var sink = new BufferedResponseSink();
        return (await connection.SendAsync(Opcode.ContainsBlocks, body, sink, Token)).Status;
    }

    /// <summary>A PutBlocks of one one-chunk block (the wrong shape for a namespace: refused per block, the frame Ok).</summary>
    private static async Task<FrameStatus> PutAsync(FrameConnection connection, NamespaceId ns)
    {
        var payload = new byte[64];
        var head = new byte[PutBlocksRequest.MeasureHead(1, 1)];
        PutBlocksRequest.WriteHead(head, ns, [new BlockToReserve(new BlockKey(1, 2), new BlockKey(1, 2), 0, 1)],
            [new ChunkDeclaration(payload.Length, XxHash3.HashToUInt64(payload))]);
        using var sink = new BufferedResponseSink();
        byte[] body = [.. head, .. payload];
        return (await connection.SendAsync(Opcode.PutBlocks, body, sink, Token)).Status;
    }

    private static async Task WaitForLogAsync(NodeProcess node, string text)
    {
        // Logs reach stderr through the node's logger thread: give the line a generous while to arrive.
        for (var wait = 0; wait < 600 && !node.Errors.Contains(text, StringComparison.Ordinal); wait++)
        {
            await Task.Delay(50, Token);
        }

        Assert.True(node.Errors.Contains(text, StringComparison.Ordinal), $"The node never logged '{text}'. Its log:\n{node.Errors}");
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("kvtier-node-data-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
