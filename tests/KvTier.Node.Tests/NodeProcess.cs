using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace KvTier.Node.Tests;

/// <summary>A real kvtier-node process on loopback, with ports chosen by the kernel (read from its ready line).</summary>
internal sealed partial class NodeProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder errors = new();
    private readonly TaskCompletionSource<string> ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NodeProcess(Process process)
    {
        this.process = process;
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
    }

    public IPEndPoint DataPlane { get; private set; } = null!;

    public IPEndPoint ControlPlane { get; private set; } = null!;

    public IPEndPoint Http { get; private set; } = null!;

    public int Id => process.Id;

    public string Errors
    {
        get
        {
            lock (errors)
            {
                return errors.ToString();
            }
        }
    }

    /// <summary>Where the built daemon is (the test project references it, so it sits beside the tests).</summary>
    public static string DaemonPath => Path.Combine(AppContext.BaseDirectory, "kvtier-node.dll");

    /// <summary>The loopback arguments every test uses: every port 0, a small arena, no huge pages or mlock.</summary>
    public static string[] LoopbackArguments(params string[] more) =>
    [
        "--host", "127.0.0.1", "--port", "0", "--control-port", "0", "--http-port", "0",
        "--ControlPlane:Host", "127.0.0.1", "--Http:Host", "127.0.0.1",
        "--arena-size", "16MiB", "--Storage:HugePages", "false", "--Storage:LockMemory", "false", .. more,
    ];

    public static Process Launch(IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(DaemonPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return Process.Start(start) ?? throw new InvalidOperationException("Could not start the daemon.");
    }

    /// <summary>Starts a node and waits for its ready line (or its exit, which fails with its stderr).</summary>
    public static async Task<NodeProcess> StartAsync(IEnumerable<string> arguments, CancellationToken cancellationToken,
        IDictionary<string, string>? environment = null)
    {
        var node = new NodeProcess(Launch(arguments, environment));
        node.process.BeginOutputReadLine();
        node.process.BeginErrorReadLine();
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        startup.CancelAfter(TimeSpan.FromSeconds(60));
        var exited = node.process.WaitForExitAsync(startup.Token);
        var first = await Task.WhenAny(node.ready.Task, exited);
        if (first != node.ready.Task)
        {
            throw new InvalidOperationException($"kvtier-node exited with {node.process.ExitCode} before it was ready:\n{node.Errors}");
        }

        var line = await node.ready.Task;
        node.DataPlane = IPEndPoint.Parse(ReadyField(line, "data"));
        node.ControlPlane = IPEndPoint.Parse(ReadyField(line, "control"));
        node.Http = IPEndPoint.Parse(ReadyField(line, "http"));
        return node;
    }

    /// <summary>Sends a POSIX signal the way an orchestrator does.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(limit.Token);
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }

    private static string ReadyField(string line, string name) =>
        ReadyFieldPattern().Matches(line).First(match => match.Groups[1].Value == name).Groups[2].Value;

    [GeneratedRegex(@"(\w+)=(\S+)")]
    private static partial Regex ReadyFieldPattern();
}
