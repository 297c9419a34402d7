using System.Runtime.InteropServices;
using KvTier.Node.Daemon;
using KvTier.Node.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

var (options, problems) = NodeConfiguration.Load(args, Environment.GetEnvironmentVariables());
if (options is null)
{
    Console.Error.Write(NodeConfiguration.FormatProblems(problems));
    return 2;
}

// Logs go to stderr as JSON lines (one event per line, fields structured); stdout carries only the ready line.
using var loggerFactory = LoggerFactory.Create(logging => logging
    .SetMinimumLevel(LogLevel.Information)
    .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
    .AddConsole(console =>
    {
        console.FormatterName = ConsoleFormatterNames.Json;
        console.LogToStandardErrorThreshold = LogLevel.Trace;
    })
    .AddJsonConsole(json =>
    {
        json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
        json.UseUtcTimestamp = true;
    }));
var logger = loggerFactory.CreateLogger("kvtier-node");

NodeHost node;
try
{
    node = await NodeHost.StartAsync(options, DaemonHandlers.Create(options, loggerFactory), loggerFactory);
}
#pragma warning disable CA1031 // the daemon's last line of defence: log why the start failed and exit non-zero
catch (Exception error)
#pragma warning restore CA1031
{
    logger.LogCritical(error, "Node failed to start: {Reason}", error.Message);
    Console.Error.WriteLine($"kvtier-node: failed to start: {error.Message}");
    return 1;
}

void Drain(PosixSignalContext signal)
{
    signal.Cancel = true; // keep the process alive until the drain has finished
    logger.LogInformation("{Signal} received: draining", signal.Signal);
    _ = node.DrainAsync();
}

using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Drain);
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Drain);

// One machine-readable line with the bound endpoints (ports configured as 0 are resolved here).
Console.Out.WriteLine(NodeConfiguration.Invariant(
    $"kvtier-node ready node={options.NodeId} data={node.DataPlaneEndPoint} control={node.ControlPlaneEndPoint} http={node.HttpEndPoint}"));
Console.Out.Flush();

await node.Stopped;
await node.DisposeAsync();
return 0;
