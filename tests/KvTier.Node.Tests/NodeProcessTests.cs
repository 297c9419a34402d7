using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using KvTier.BlockDirectory.Redis;
using KvTier.Node.Hosting;
using KvTier.Testing;
using KvTier.Transport.ControlPlane;

namespace KvTier.Node.Tests;

/// <summary>The kvtier-node executable, really started on loopback.</summary>
public sealed class NodeProcessTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_bad_configuration_exits_2_and_names_every_problem()
    {
        using var process = NodeProcess.Launch(["--arena-size", "1k", "--port", "eighty", "--Storage:Bogus", "1", "--shm-dir", "/nonexistent/shm"]);
        var errors = await process.StandardError.ReadToEndAsync(Token);
        await process.WaitForExitAsync(Token);

        Assert.Equal(2, process.ExitCode);
        Assert.Contains("invalid configuration", errors, StringComparison.Ordinal);
        Assert.Contains("Storage:ArenaSize must be at least 2MiB, got 1KiB", errors, StringComparison.Ordinal);
        Assert.Contains("'eighty'", errors, StringComparison.Ordinal);
        Assert.Contains("Unknown setting 'Storage:Bogus'", errors, StringComparison.Ordinal);
        Assert.Contains("SharedMemory:Directory /nonexistent/shm does not exist", errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_readiness_and_metrics_answer_over_http()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments("--node-id", "http-test"), Token);
        using var http = new HttpClient();

        var alive = await http.GetAsync(new Uri($"http://{node.Http}/healthz"), Token);
        var ready = await http.GetAsync(new Uri($"http://{node.Http}/readyz"), Token);
        var metrics = await http.GetStringAsync(new Uri($"http://{node.Http}/metrics"), Token);

        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("# TYPE kvtier_host_hits_total counter", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_host_capacity_bytes 16777216", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_data_plane_connections 0", metrics, StringComparison.Ordinal);
        Assert.Contains("kvtier_shared_arena_enabled 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_control_plane_answers_node_info_namespace_admin_and_drain_over_grpc()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments("--node-id", "grpc-test"), Token);
        using var channel = GrpcChannel.ForAddress($"http://{node.ControlPlane}");
        var control = new NodeControl.NodeControlClient(channel);

        var info = await control.GetNodeInfoAsync(new GetNodeInfoRequest(), cancellationToken: Token);
        Assert.Equal("grpc-test", info.NodeId);
        Assert.Equal((uint)node.DataPlane.Port, info.DataPlanePort);
        Assert.Equal(KvTier.Transport.ControlPlane.NodeState.Serving, info.State);
        Assert.False(info.RdmaAvailable);
        Assert.False(string.IsNullOrWhiteSpace(info.RdmaUnavailableReason));

        var descriptor = new NamespaceDescriptor
        {
            ModelId = "meta-llama/Meta-Llama-3-8B",
            ModelRevision = "main",
            Tenant = "t1",
            Layout = new KvLayoutDescriptor { Layers = 32, KvHeads = 8, HeadDim = 128, DataType = "bf16", TokensPerBlock = 16, TensorParallelRank = 0, TensorParallelSize = 1 },
        };
        var registered = await control.RegisterNamespaceAsync(new RegisterNamespaceRequest { Namespace = descriptor }, cancellationToken: Token);
        var listed = await control.ListNamespacesAsync(new ListNamespacesRequest(), cancellationToken: Token);
        Assert.Equal(registered.NamespaceId, Assert.Single(listed.NamespaceIds));

        var bad = await Assert.ThrowsAsync<RpcException>(async () => await control.RegisterNamespaceAsync(
            new RegisterNamespaceRequest { Namespace = new NamespaceDescriptor { ModelId = "m" } }, cancellationToken: Token));
        Assert.Equal(StatusCode.InvalidArgument, bad.StatusCode);
        Assert.Contains("layout", bad.Status.Detail, StringComparison.Ordinal);

        var rdma = await Assert.ThrowsAsync<RpcException>(async () => await control.ConnectRdmaAsync(new ConnectRdmaRequest(), cancellationToken: Token));
        Assert.Equal(StatusCode.FailedPrecondition, rdma.StatusCode);

        var dropped = await control.DropNamespaceAsync(new DropNamespaceRequest { NamespaceId = registered.NamespaceId }, cancellationToken: Token);
        Assert.Equal(0UL, dropped.BlocksRemoved);

        var drained = await control.DrainAsync(new DrainRequest { TimeoutMs = 1000 }, cancellationToken: Token);
        Assert.Equal(KvTier.Transport.ControlPlane.NodeState.Draining, drained.State);
        Assert.Equal(0, await node.WaitForExitAsync(Token));
    }

    [Fact]
    public async Task SIGTERM_drains_and_exits_0()
    {
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments("--node-id", "sigterm-test"), Token);

        node.Signal("TERM");

        Assert.Equal(0, await node.WaitForExitAsync(Token));
        Assert.Contains("drained and stopped", node.Errors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_redis_the_node_registers_and_a_killed_nodes_heartbeat_lapses()
    {
        var redis = RedisEndpoints.RequireSingle();
        var prefix = $"nodetest{Guid.NewGuid():n}:";
        await using var directory = await RedisBlockDirectory.ConnectAsync(new RedisDirectoryOptions
        {
            Endpoints = redis,
            KeyPrefix = prefix,
            MembershipCacheTime = TimeSpan.Zero,
        });
        await using var node = await NodeProcess.StartAsync(NodeProcess.LoopbackArguments(
            "--node-id", "redis-test", "--redis", redis, "--Directory:KeyPrefix", prefix, "--Directory:HeartbeatInterval", "00:00:00.200"), Token);
        var id = NodeIdentity.ToNodeId("redis-test");

        var registered = await directory.GetLiveNodesAsync(Token);
        Assert.Contains(registered, info => info.Id == id && info.DataPlaneAddress.EndsWith($":{node.DataPlane.Port}", StringComparison.Ordinal));

        node.Signal("KILL");
        await node.WaitForExitAsync(Token);
        while ((await directory.GetLiveNodesAsync(Token)).Any(info => info.Id == id))
        {
            await Task.Delay(100, Token); // the heartbeat TTL is three intervals (600 ms)
        }

        Assert.DoesNotContain(await directory.GetLiveNodesAsync(Token), info => info.Id == id);
    }
}
