using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace KvTier.Testing;

/// <summary>
/// A redis-server process of the test's own, on a free loopback port: for tests that stop and restart Redis, or that
/// read its command statistics without other tests' traffic. Stop and restart keep the port; disposing kills the
/// process and deletes its folder.
/// </summary>
internal sealed class TestRedisServer : IDisposable
{
    private readonly string directory;
    private readonly string[] extraArguments;
    private Process? process;

    private TestRedisServer(int port, string[] extraArguments)
    {
        Port = port;
        this.extraArguments = extraArguments;
        directory = Path.Combine(Path.GetTempPath(), $"kvtier-redis-{Environment.ProcessId}-{port}-{Guid.NewGuid():n}");
        System.IO.Directory.CreateDirectory(directory);
    }

    /// <summary>The loopback port the server listens on (the same across restarts).</summary>
    public int Port { get; }

    /// <summary>host:port for a client configuration.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Whether the process is running.</summary>
    public bool IsRunning => process is { HasExited: false };

    /// <summary>Starts a server (an argument "{port}" is replaced by the chosen port, e.g. for --tls-port), or skips the test when redis-server does not exist here and the test is not run by
    /// <c>./build.sh test</c> (which installs it, so there a missing binary is a failure).</summary>
    public static Task<TestRedisServer> StartAsync(params string[] extraArguments) => StartAsync(FreePort(), extraArguments);

    /// <summary>Starts a cluster-mode server (cluster bus on port + 10000, so the port is picked below 55536).</summary>
    public static Task<TestRedisServer> StartClusterNodeAsync(params string[] extraArguments) =>
        StartAsync(FreeClusterPort(), ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", .. extraArguments]);

    private static async Task<TestRedisServer> StartAsync(int port, string[] extraArguments)
    {
        var binary = FindBinary();
        Assert.SkipWhen(binary is null && Environment.GetEnvironmentVariable(RedisEndpoints.SingleVariable) is null,
            "redis-server is not on PATH; run the tests with ./build.sh test, which installs and starts Redis.");
        Assert.NotNull(binary);
        var server = new TestRedisServer(port, extraArguments);
        await server.StartAsync().ConfigureAwait(false);
        return server;
    }

    /// <summary>Starts the process (again) on <see cref="Port"/> and waits until it accepts connections.</summary>
    public async Task StartAsync()
    {
        if (IsRunning)
        {
            return;
        }

        var start = new ProcessStartInfo(FindBinary()!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", directory, "--logfile", Path.Combine(directory, "redis.log"), "--daemonize", "no",
                     .. extraArguments.Select(argument => argument.Replace("{port}", Port.ToString(), StringComparison.Ordinal))])
        {
            start.ArgumentList.Add(argument);
        }

        process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on port {Port} exited with code {process.ExitCode}; see {directory}/redis.log.");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port).ConfigureAwait(false);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(20).ConfigureAwait(false);
            }
        }

        throw new TimeoutException($"redis-server on port {Port} did not accept connections within 20 s.");
    }

    /// <summary>Kills the process (as a crash would) and waits until it is gone.</summary>
    public void Stop()
    {
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        process.Dispose();
        process = null;
    }

    /// <summary>Stops and starts again on the same port (with empty data: persistence is off).</summary>
    public async Task RestartAsync()
    {
        Stop();
        await StartAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Stop();
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless; never fail a test over it.
        }
    }

    private static string? FindBinary()
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static int FreeClusterPort()
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(20000, 55000);
            if (IsFree(port) && IsFree(port + 10000))
            {
                return port;
            }
        }

        throw new InvalidOperationException("Found no free loopback port pair for a cluster node.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
