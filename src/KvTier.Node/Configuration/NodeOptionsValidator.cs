using System.Net;

namespace KvTier.Node.Configuration;

/// <summary>Checks a <see cref="NodeOptions"/> once at start and names every bad setting with its value, so an
/// operator fixes them all in one go.</summary>
public static class NodeOptionsValidator
{
    /// <summary>Every problem found; empty when the options are usable.</summary>
    public static IReadOnlyList<string> Validate(NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.NodeId) || options.NodeId.Length > 128 || options.NodeId.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            problems.Add($"NodeId must be 1 to 128 characters without spaces, got '{options.NodeId}'.");
        }

        CheckEndpoint(problems, "DataPlane", options.DataPlane);
        CheckEndpoint(problems, "ControlPlane", options.ControlPlane);
        CheckEndpoint(problems, "Http", options.Http);
        var ports = new[] { options.DataPlane.Port, options.ControlPlane.Port, options.Http.Port }.Where(p => p != 0).ToList();
        if (ports.Count != ports.Distinct().Count())
        {
            problems.Add($"DataPlane:Port, ControlPlane:Port and Http:Port must differ, got {string.Join(", ", ports)}.");
        }

        Check(problems, options.DataPlane.MaxConnections is >= 1 and <= 65536, $"DataPlane:MaxConnections must be in [1, 65536], got {options.DataPlane.MaxConnections}.");
        Check(problems, options.DataPlane.MaxFrameBody.Bytes is >= 1 << 20 and <= int.MaxValue,
            $"DataPlane:MaxFrameBody must be in [1MiB, 2GiB), got {options.DataPlane.MaxFrameBody}.");
        Check(problems, options.DataPlane.MaxBlocksPerRequest is >= 1 and <= 65536,
            $"DataPlane:MaxBlocksPerRequest must be in [1, 65536], got {options.DataPlane.MaxBlocksPerRequest}.");

        Check(problems, options.Storage.ArenaSize.Bytes >= 2L << 20, $"Storage:ArenaSize must be at least 2MiB, got {options.Storage.ArenaSize}.");
        if (!string.IsNullOrEmpty(options.Storage.NvmeDirectory))
        {
            Check(problems, options.Storage.NvmeSize.Bytes >= 64L << 20, $"Storage:NvmeSize must be at least 64MiB, got {options.Storage.NvmeSize}.");
        }

        switch (options.Directory.Kind)
        {
            case "in-process":
                break;
            case "redis":
                Check(problems, !string.IsNullOrWhiteSpace(options.Directory.Redis), "Directory:Redis must be set when Directory:Kind is 'redis' (for example 'redis-0:6379,password=...').");
                break;
            default:
                problems.Add($"Directory:Kind must be 'in-process' or 'redis', got '{options.Directory.Kind}'.");
                break;
        }

        Check(problems, options.Directory.HeartbeatInterval > TimeSpan.Zero, $"Directory:HeartbeatInterval must be positive, got {options.Directory.HeartbeatInterval}.");
        Check(problems, options.Timing.MaxLease > TimeSpan.Zero, $"Timing:MaxLease must be positive, got {options.Timing.MaxLease}.");
        Check(problems, options.Timing.MaxReservation > TimeSpan.Zero, $"Timing:MaxReservation must be positive, got {options.Timing.MaxReservation}.");
        Check(problems, options.Timing.DrainTimeout >= TimeSpan.Zero, $"Timing:DrainTimeout cannot be negative, got {options.Timing.DrainTimeout}.");
        CheckTls(problems, options.Tls);
        Check(problems, options.SharedMemory.Directory is null || System.IO.Directory.Exists(options.SharedMemory.Directory),
            $"SharedMemory:Directory {options.SharedMemory.Directory} does not exist (use /dev/shm or a memory volume, or leave it unset).");
        Check(problems, options.Rdma.Port is >= 1 and <= 255, $"Rdma:Port must be a port number from 1 to 255, got {options.Rdma.Port}.");
        Check(problems, options.Rdma.GidIndex >= -1, $"Rdma:GidIndex must be -1 (pick a RoCE v2 GID) or a GID table index, got {options.Rdma.GidIndex}.");
        Check(problems, options.Rdma.Device is null || !string.IsNullOrWhiteSpace(options.Rdma.Device), "Rdma:Device cannot be blank (leave it unset for the first device).");
        if (options.Auth.Enabled)
        {
            CheckFile(problems, "Auth:TokensFile", options.Auth.TokensFile);
        }

        return problems;
    }

    private static void CheckTls(List<string> problems, TlsOptions tls)
    {
        Check(problems, tls.MinimumVersion is "1.2" or "1.3", $"Tls:MinimumVersion must be '1.2' or '1.3', got '{tls.MinimumVersion}'.");
        if (!tls.Enabled)
        {
            Check(problems, string.IsNullOrWhiteSpace(tls.ClientCaFile), "Tls:ClientCaFile needs Tls:CertificateFile and Tls:KeyFile (client certificates are checked only over TLS).");
            Check(problems, !tls.Metrics, "Tls:Metrics needs Tls:CertificateFile and Tls:KeyFile.");
            return;
        }

        Check(problems, !string.IsNullOrWhiteSpace(tls.CertificateFile) && !string.IsNullOrWhiteSpace(tls.KeyFile),
            "Tls:CertificateFile and Tls:KeyFile must be set together (PEM files of the node's certificate and its private key).");
        CheckFile(problems, "Tls:CertificateFile", tls.CertificateFile);
        CheckFile(problems, "Tls:KeyFile", tls.KeyFile);
        if (!string.IsNullOrWhiteSpace(tls.ClientCaFile))
        {
            CheckFile(problems, "Tls:ClientCaFile", tls.ClientCaFile);
        }
    }

    private static void CheckFile(List<string> problems, string setting, string? path)
    {
        if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path))
        {
            problems.Add($"{setting} '{path}' does not exist.");
        }
    }

    /// <summary>Throws one exception listing every problem.</summary>
    /// <exception cref="ArgumentException">The options are not usable.</exception>
    public static void ThrowIfInvalid(NodeOptions options)
    {
        var problems = Validate(options);
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid node configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems));
        }
    }

    private static void CheckEndpoint(List<string> problems, string name, EndpointOptions endpoint)
    {
        Check(problems, IPAddress.TryParse(endpoint.Host, out _), $"{name}:Host must be an IP address, got '{endpoint.Host}'.");
        Check(problems, endpoint.Port is >= 0 and <= 65535, $"{name}:Port must be in [0, 65535], got {endpoint.Port}.");
    }

    private static void Check(List<string> problems, bool condition, string problem)
    {
        if (!condition)
        {
            problems.Add(problem);
        }
    }
}
