using System.Collections;
using KvTier.Node.Daemon;

namespace KvTier.Node.Tests;

public sealed class NodeConfigurationTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("kvtier-config-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void Defaults_apply_when_nothing_is_configured()
    {
        var (options, problems) = NodeConfiguration.Load([], new Hashtable());

        Assert.Empty(problems);
        Assert.Equal(7480, options!.DataPlane.Port);
        Assert.Equal("in-process", options.Directory.Kind);
        Assert.Equal(1L << 30, options.Storage.ArenaSize.Bytes);
    }

    [Fact]
    public void Command_line_beats_environment_which_beats_the_file()
    {
        var file = WriteConfig("""{ "DataPlane": { "Port": 9001 }, "ControlPlane": { "Port": 9002 }, "Http": { "Port": 9003 }, "NodeId": "from-file" }""");
        var environment = new Hashtable
        {
            ["KVTIER_NODE_CONFIG"] = file,
            ["KVTIER_NODE_DATAPLANE__PORT"] = "9101",
            ["KVTIER_NODE_CONTROLPLANE__PORT"] = "9102",
            ["UNRELATED_VARIABLE"] = "ignored",
        };

        var (options, problems) = NodeConfiguration.Load(["--port", "9201", "--arena-size", "64MiB"], environment);

        Assert.Empty(problems);
        Assert.Equal(9201, options!.DataPlane.Port);      // command line
        Assert.Equal(9102, options.ControlPlane.Port);    // environment over file
        Assert.Equal(9003, options.Http.Port);            // file over default
        Assert.Equal("from-file", options.NodeId);
        Assert.Equal(64L << 20, options.Storage.ArenaSize.Bytes);
    }

    [Fact]
    public void The_config_switch_overrides_the_config_variable()
    {
        var ignored = WriteConfig("""{ "NodeId": "from-variable" }""");
        var chosen = WriteConfig("""{ "NodeId": "from-switch" }""");

        var (options, problems) = NodeConfiguration.Load(["--config", chosen], new Hashtable { ["KVTIER_NODE_CONFIG"] = ignored });

        Assert.Empty(problems);
        Assert.Equal("from-switch", options!.NodeId);
    }

    [Fact]
    public void Unknown_keys_from_every_source_are_all_reported()
    {
        var file = WriteConfig("""{ "Storage": { "ArenaSzie": "1GiB" } }""");

        var (options, problems) = NodeConfiguration.Load(["--config", file, "--Timing:Bogus", "1"],
            new Hashtable { ["KVTIER_NODE_DIRECTORY__REDDIS"] = "x:1" });

        Assert.Null(options);
        Assert.Contains(problems, p => p.Contains("'Storage:ArenaSzie'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'Timing:Bogus'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'Directory:REDDIS'", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void Bad_values_are_named_with_the_value_and_validation_problems_are_listed_too()
    {
        var (options, problems) = NodeConfiguration.Load(
            ["--port", "eighty", "--drain-timeout", "soon", "--arena-size", "1k", "--directory", "etcd"], new Hashtable());

        Assert.Null(options);
        Assert.Contains(problems, p => p.Contains("'DataPlane:Port'", StringComparison.Ordinal) && p.Contains("'eighty'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'Timing:DrainTimeout'", StringComparison.Ordinal) && p.Contains("'soon'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Storage:ArenaSize must be at least 2MiB", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("'etcd'", StringComparison.Ordinal));
    }

    [Fact]
    public void A_redis_address_alone_selects_the_redis_directory()
    {
        var (options, problems) = NodeConfiguration.Load(["--redis", "redis-0:6379"], new Hashtable());

        Assert.Empty(problems);
        Assert.Equal("redis", options!.Directory.Kind);
        Assert.Equal("redis-0:6379", options.Directory.Redis);
    }

    [Fact]
    public void Rdma_device_port_and_gid_come_from_every_source_and_bad_ones_are_refused_by_name()
    {
        var (options, problems) = NodeConfiguration.Load(["--rdma-device", "mlx5_1", "--Rdma:GidIndex", "3"],
            new Hashtable { ["KVTIER_NODE_Rdma__Port"] = "2" });
        var (_, refused) = NodeConfiguration.Load(["--Rdma:Port", "0", "--Rdma:GidIndex", "-2"], new Hashtable());

        Assert.Empty(problems);
        Assert.Equal(("mlx5_1", 2, 3, true), (options!.Rdma.Device, options.Rdma.Port, options.Rdma.GidIndex, options.Rdma.Enabled));
        Assert.Contains(refused, p => p.Contains("Rdma:Port must be a port number from 1 to 255, got 0", StringComparison.Ordinal));
        Assert.Contains(refused, p => p.Contains("Rdma:GidIndex must be -1", StringComparison.Ordinal));
    }

    [Fact]
    public void Rdma_for_tenants_and_with_tls_is_off_unless_the_operator_says_the_fabric_is_trusted()
    {
        var (defaults, _) = NodeConfiguration.Load([], new Hashtable());
        var (trusted, problems) = NodeConfiguration.Load(["--Rdma:AllowWithTls", "true"],
            new Hashtable { ["KVTIER_NODE_RDMA__ALLOWTENANTS"] = "true" });

        Assert.Empty(problems);
        Assert.Equal((false, false), (defaults!.Rdma.AllowTenants, defaults.Rdma.AllowWithTls));
        Assert.Equal((true, true), (trusted!.Rdma.AllowTenants, trusted.Rdma.AllowWithTls));
    }

    [Fact]
    public void A_missing_config_file_is_named()
    {
        var missing = Path.Combine(folder, "absent.json");

        var (options, problems) = NodeConfiguration.Load(["--config", missing], new Hashtable());

        Assert.Null(options);
        Assert.Contains(problems, p => p.Contains(missing, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_known_key_has_a_settable_path()
    {
        var keys = NodeConfiguration.KnownKeys().ToList();

        Assert.Contains("Storage:NvmeDirectory", keys);
        Assert.Contains("Timing:DrainTimeout", keys);
        Assert.All(NodeConfiguration.Switches.Values, target => Assert.Contains(target, keys));
    }

    [Fact]
    public void TLS_and_token_settings_name_missing_files_and_half_configured_certificates()
    {
        var (_, problems) = NodeConfiguration.Load(
            ["--tls-cert", Path.Combine(folder, "node.pem"), "--tokens-file", Path.Combine(folder, "tokens.json"), "--Tls:MinimumVersion", "1.1"],
            new Hashtable());

        Assert.Contains(problems, p => p.Contains("Tls:CertificateFile and Tls:KeyFile must be set together", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains($"Tls:CertificateFile '{Path.Combine(folder, "node.pem")}' does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains($"Auth:TokensFile '{Path.Combine(folder, "tokens.json")}' does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Tls:MinimumVersion must be '1.2' or '1.3', got '1.1'", StringComparison.Ordinal));
    }

    [Fact]
    public void A_client_CA_without_a_node_certificate_is_refused()
    {
        var (_, problems) = NodeConfiguration.Load(["--tls-client-ca", WriteConfig("{}")], new Hashtable());

        Assert.Contains(problems, p => p.Contains("Tls:ClientCaFile needs Tls:CertificateFile and Tls:KeyFile", StringComparison.Ordinal));
    }

    private string WriteConfig(string json)
    {
        var path = Path.Combine(folder, $"config-{Guid.NewGuid():n}.json");
        File.WriteAllText(path, json);
        return path;
    }
}
