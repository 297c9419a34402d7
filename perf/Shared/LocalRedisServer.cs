using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KvTier.Perf;

/// <summary>Starts a private redis-server on a free loopback port for a perf tool's baseline or directory, and
/// waits until it accepts connections. Linked into each perf tool that needs one (tests use tests/Shared).</summary>
internal static class LocalRedisServer
{
    /// <summary>The running process (the caller kills it) and its "host:port" endpoint.</summary>
    public static async Task<(Process Process, string Endpoint)> StartAsync()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)
            ?? throw new InvalidOperationException("redis-server could not be started: is it installed (apt-get install redis-server)?");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return (process, $"127.0.0.1:{port}");
            }
            catch (SocketException)
            {
                await Task.Delay(25);
            }
        }

        process.Kill();
        throw new InvalidOperationException($"redis-server did not accept connections on port {port} within 5 s.");
    }
}
