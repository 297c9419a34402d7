namespace KvTier.Node.Configuration;

/// <summary>
/// Every setting of a cache node, with its production default. Fed by defaults &lt; config file &lt; environment
/// (KVTIER_ prefix, "__" between levels) &lt; command line, then validated once at start. To add a setting: add a
/// property with its default and a comment here, a check in <see cref="NodeOptionsValidator"/>, a row in
/// docs/operations.md, and (if operators type it often) a short switch in the daemon's switch map.
/// </summary>
public sealed class NodeOptions
{
    /// <summary>Unique node id in the cluster (default: the host name).</summary>
    public string NodeId { get; set; } = Environment.MachineName;

    /// <summary>Address other machines use to reach this node (default: the data-plane bind address, or the host
    /// name when that is a wildcard).</summary>
    public string? AdvertiseAddress { get; set; }

    /// <summary>Data plane (binary protocol over TCP).</summary>
    public DataPlaneOptions DataPlane { get; set; } = new();

    /// <summary>gRPC control plane (HTTP/2 without TLS unless certificates are configured).</summary>
    public EndpointOptions ControlPlane { get; set; } = new() { Port = 7481 };

    /// <summary>Prometheus metrics, /healthz and /readyz (HTTP/1.1).</summary>
    public EndpointOptions Http { get; set; } = new() { Port = 7482 };

    /// <summary>Host arena and NVMe tier.</summary>
    public NodeStorageOptions Storage { get; set; } = new();

    /// <summary>Where the node publishes its blocks.</summary>
    public DirectoryOptions Directory { get; set; } = new();

    /// <summary>Leases, reservations and drain timing.</summary>
    public TimingOptions Timing { get; set; } = new();

    /// <summary>TLS on the data plane and the control plane (off unless a certificate is configured).</summary>
    public TlsOptions Tls { get; set; } = new();

    /// <summary>Bearer-token authentication of tenants (off unless a tokens file is configured).</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>Serving the arena over RDMA, when this host has a usable device.</summary>
    public RdmaOptions Rdma { get; set; } = new();

    /// <summary>Sharing the arena with clients on the same host through a memory file system.</summary>
    public SharedMemoryOptions SharedMemory { get; set; } = new();
}

/// <summary>Sharing the host arena with inference engines on the same host (docs/operations.md, "Same-host clients"):
/// the arena lives in a file in <see cref="Directory"/>, and a client that can open that file maps it and copies leased
/// blocks straight out of it (and, with <see cref="AllowWrites"/>, new blocks into their reservations): no socket, no
/// network stack, no copy on the node.</summary>
public sealed class SharedMemoryOptions
{
    /// <summary>Directory on a memory file system (/dev/shm, or a volume of medium Memory shared with the engines'
    /// pods) for the arena file; unset (default): the arena is private and clients use TCP or RDMA.</summary>
    public string? Directory { get; set; }

    /// <summary>With tenant tokens (<c>Auth:TokensFile</c>), tell token holders where the file is anyway. A client
    /// that can open the file can read every block in the arena, of every tenant: the file's permissions (owner and
    /// group read) are the boundary, not the tokens. Off (default): a node with tokens refuses MapArena.</summary>
    public bool AllowTenants { get; set; }

    /// <summary>Let clients on this host also fill their reservations through the file (stores: reserve and commit over
    /// TCP, the bytes copied straight into the arena), as RDMA WRITEs would. The file's group may then write it (mode
    /// 0660): a writer can damage any block, which the node's checks catch (a damaged block is never served), so give
    /// write access only to engines trusted not to. Off (default): the file is read-only to clients and stores go over
    /// TCP.</summary>
    public bool AllowWrites { get; set; }
}

/// <summary>Which RDMA device, port and GID the node serves its arena on (docs/rdma.md). With no usable device the
/// node serves TCP only whatever these say.</summary>
public sealed class RdmaOptions
{
    /// <summary>Off: TCP only even where a device is usable (for example while a fabric is being brought up).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Device name as in <c>ibv_devices</c> (for example mlx5_0); unset: the first device found.</summary>
    public string? Device { get; set; }

    /// <summary>Port number on the device (from 1).</summary>
    public int Port { get; set; } = 1;

    /// <summary>GID table index; -1 picks a RoCE v2 GID of the port automatically.</summary>
    public int GidIndex { get; set; } = -1;

    /// <summary>With tenant tokens (<c>Auth:TokensFile</c>), offer RDMA to the tenants anyway. The queue-pair exchange
    /// is token-checked, but a connected queue pair can read and write any extent of the arena by its rkey: leases and
    /// reservations scope what the node hands out, not what the NIC allows. So this says that the tenants of this node
    /// share one trust domain on the RDMA fabric. Off (default): a node with tokens serves TCP only.</summary>
    public bool AllowTenants { get; set; }

    /// <summary>With TLS (<c>Tls:CertificateFile</c>), offer RDMA anyway: block bytes then cross the RDMA fabric
    /// unencrypted (the queue-pair exchange itself stays on the TLS control plane). Off (default): a node with TLS
    /// serves TCP (TLS) only.</summary>
    public bool AllowWithTls { get; set; }
}

/// <summary>TLS settings. Setting <see cref="CertificateFile"/> and <see cref="KeyFile"/> turns TLS on for the data
/// plane and the gRPC control plane.</summary>
public sealed class TlsOptions
{
    /// <summary>The node's certificate (PEM; may be followed by its intermediate certificates).</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The certificate's private key (PEM, unencrypted PKCS#8, PKCS#1 or SEC1).</summary>
    public string? KeyFile { get; set; }

    /// <summary>CA bundle (PEM) that client certificates must chain to; setting it requires a client certificate on
    /// every data-plane and control-plane connection (mutual TLS).</summary>
    public string? ClientCaFile { get; set; }

    /// <summary>Oldest TLS version accepted: "1.2" or "1.3".</summary>
    public string MinimumVersion { get; set; } = "1.2";

    /// <summary>Serve /metrics, /healthz and /readyz over HTTPS too (with the same certificate, never requiring a
    /// client certificate, so Prometheus and kubelet probes need only trust the CA). Off: they stay plain HTTP.</summary>
    public bool Metrics { get; set; }

    /// <summary>Whether TLS is on.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificateFile) || !string.IsNullOrWhiteSpace(KeyFile);
}

/// <summary>Tenant authentication. With a tokens file, every data-plane connection must authenticate with a bearer
/// token listed there, and every control-plane call must carry one.</summary>
public sealed class AuthOptions
{
    /// <summary>JSON file listing each token's SHA-256, tenant, namespaces and admin flag (docs/operations.md,
    /// "Tenant authentication"); typically a mounted Kubernetes secret. Read once at start.</summary>
    public string? TokensFile { get; set; }

    /// <summary>Whether authentication is on.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(TokensFile);
}

/// <summary>A listening endpoint.</summary>
public class EndpointOptions
{
    /// <summary>Address to bind ("0.0.0.0" for every IPv4 interface, "127.0.0.1" for loopback only).</summary>
    public string Host { get; set; } = "0.0.0.0";

    /// <summary>Port (0 picks a free one, for tests).</summary>
    public int Port { get; set; }
}

/// <summary>Data-plane listener and its limits.</summary>
public sealed class DataPlaneOptions : EndpointOptions
{
    /// <summary>Creates the defaults.</summary>
    public DataPlaneOptions() => Port = 7480;

    /// <summary>Most open connections; more are refused.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Largest frame body accepted.</summary>
    public ByteSize MaxFrameBody { get; set; } = new(256L << 20);

    /// <summary>Most blocks in one request.</summary>
    public int MaxBlocksPerRequest { get; set; } = 4096;
}

/// <summary>Storage engine settings the operator chooses.</summary>
public sealed class NodeStorageOptions
{
    /// <summary>Pinned host arena size.</summary>
    public ByteSize ArenaSize { get; set; } = new(1L << 30);

    /// <summary>Try reserved huge pages first (falls back to transparent huge pages).</summary>
    public bool HugePages { get; set; } = true;

    /// <summary>Try to lock the arena in memory (needs CAP_IPC_LOCK or a large enough memlock limit).</summary>
    public bool LockMemory { get; set; } = true;

    /// <summary>Folder for NVMe segment files; empty for a host-memory-only node.</summary>
    public string? NvmeDirectory { get; set; }

    /// <summary>Bytes the NVMe tier may use.</summary>
    public ByteSize NvmeSize { get; set; } = new(16L << 30);
}

/// <summary>Which directory the node publishes to.</summary>
public sealed class DirectoryOptions
{
    /// <summary>"in-process" (single machine, embedded) or "redis".</summary>
    public string Kind { get; set; } = "in-process";

    /// <summary>StackExchange.Redis configuration string ("host:port,password=...,ssl=true,user=...").</summary>
    public string? Redis { get; set; }

    /// <summary>Prefix of every Redis key (several clusters can share one Redis).</summary>
    public string KeyPrefix { get; set; } = "kvtier";

    /// <summary>How often the node heartbeats its membership.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Leases, reservations and drain.</summary>
public sealed class TimingOptions
{
    /// <summary>Longest lease a client may take on blocks it reads.</summary>
    public TimeSpan MaxLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest a reservation may wait for its commit.</summary>
    public TimeSpan MaxReservation { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a drain waits for in-flight reads before exiting anyway.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
