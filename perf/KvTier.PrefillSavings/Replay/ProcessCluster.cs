using System.Diagnostics;
using System.Globalization;
using System.Text;
using Grpc.Net.Client;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.Redis;
using KvTier.Core;
using KvTier.Node;
using KvTier.Perf;
using KvTier.Transport.ControlPlane;

namespace KvTier.PrefillSavings.Replay;

/// <summary>
/// Several real kvtier-node processes on loopback sharing a private redis-server directory, the way an operator runs
/// a cluster; the namespace is registered on each node through its gRPC control plane. Everything started here is
/// stopped on dispose.
/// </summary>
internal sealed class ProcessCluster : IReplayCluster
{
    private readonly Process redis;
    private readonly List<Process> nodes;

    private ProcessCluster(Process redis, List<Process> nodes, IBlockDirectory directory, string description)
    {
        this.redis = redis;
        this.nodes = nodes;
        ClientDirectory = directory;
        Description = description;
    }

    public string Description { get; }

    public IBlockDirectory ClientDirectory { get; }

    /// <summary>The daemon built beside this program (the kvtier CLI and the tests reference its project).</summary>
    public static string DaemonPath => Path.Combine(AppContext.BaseDirectory, "kvtier-node.dll");

    public static async Task<ProcessCluster> StartAsync(KvNamespace kvNamespace, int count, long arenaBytes, CancellationToken cancellationToken)
    {
        if (!File.Exists(DaemonPath))
        {
            throw new InvalidOperationException($"kvtier-node is not built at {DaemonPath}; run ./build.sh first.");
        }

        var (redis, endpoint) = await LocalRedisServer.StartAsync();
        var nodes = new List<Process>();
        try
        {
            const string prefix = "savings";
            foreach (var index in Enumerable.Range(0, count))
            {
                var (process, control) = await StartNodeAsync($"savings-{index}", endpoint, prefix, arenaBytes, cancellationToken);
                nodes.Add(process);
                using var channel = GrpcChannel.ForAddress($"http://{control}");
                await new NodeControl.NodeControlClient(channel).RegisterNamespaceAsync(
                    new RegisterNamespaceRequest { Namespace = NamespaceRegistry.ToDescriptor(kvNamespace) }, cancellationToken: cancellationToken);
            }

            var directory = await RedisBlockDirectory.ConnectAsync(new RedisDirectoryOptions { Endpoints = endpoint, KeyPrefix = prefix });
            return new ProcessCluster(redis, nodes, directory,
                $"{count} kvtier-node processes on loopback, redis-server directory ({endpoint})");
        }
        catch
        {
            foreach (var node in nodes)
            {
                Stop(node);
            }

            Stop(redis);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await ClientDirectory.DisposeAsync();
        foreach (var node in nodes)
        {
            Stop(node);
        }

        Stop(redis);
    }

    private static async Task<(Process Process, string Control)> StartNodeAsync(string nodeId, string redis, string prefix, long arenaBytes,
        CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])[DaemonPath, "--node-id", nodeId, "--redis", redis, "--Directory:KeyPrefix", prefix,
            "--host", "127.0.0.1", "--port", "0", "--control-port", "0", "--http-port", "0",
            "--ControlPlane:Host", "127.0.0.1", "--Http:Host", "127.0.0.1",
            "--arena-size", (arenaBytes >> 20).ToString(CultureInfo.InvariantCulture) + "MiB",
            "--Storage:HugePages", "false", "--Storage:LockMemory", "false"])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start kvtier-node.");
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var errors = new StringBuilder();
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is { } text && text.StartsWith("kvtier-node ready", StringComparison.Ordinal))
            {
                ready.TrySetResult(text);
            }
        };
        process.ErrorDataReceived += (_, line) =>
        {
            lock (errors)
            {
                errors.AppendLine(line.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        if (await Task.WhenAny(ready.Task, process.WaitForExitAsync(limit.Token)) != ready.Task)
        {
            Stop(process);
            lock (errors)
            {
                throw new InvalidOperationException($"kvtier-node {nodeId} did not become ready:\n{errors}");
            }
        }

        var control = (await ready.Task).Split(' ').First(field => field.StartsWith("control=", StringComparison.Ordinal))["control=".Length..];
        return (process, control);
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
    }
}
