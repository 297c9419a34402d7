using StackExchange.Redis;

namespace KvTier.BlockDirectory.Redis;

/// <summary>How <see cref="RedisBlockDirectory"/> reaches its Redis (a single server or a cluster).</summary>
public sealed record RedisDirectoryOptions
{
    /// <summary>Comma-separated host:port list; for a cluster, any subset of its masters.</summary>
    public required string Endpoints { get; init; }

    /// <summary>ACL user name (Redis 6+); null for the default user.</summary>
    public string? User { get; init; }

    /// <summary>Password of <see cref="User"/> (or of the default user); null when none.</summary>
    public string? Password { get; init; }

    /// <summary>Connect with TLS.</summary>
    public bool UseTls { get; init; }

    /// <summary>The host name the server's TLS certificate must name; null: the endpoint's host.</summary>
    public string? TlsHost { get; init; }

    /// <summary>PEM file of a private certificate authority that issued the server's TLS certificate; null: the
    /// system's trusted roots.</summary>
    public string? TlsTrustedIssuerPath { get; init; }

    /// <summary>Database index on a single server (a cluster has only database 0).</summary>
    public int Database { get; init; }

    /// <summary>Prepended to every key, so several deployments can share one Redis. Letters, digits and
    /// <c>:._-</c> only: hash-tag braces or glob characters would break slot routing and namespace scans.</summary>
    public string KeyPrefix { get; init; } = "";

    /// <summary>How long to wait for a connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a synchronous command may take.</summary>
    public TimeSpan SyncTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long an asynchronous command may take before the read degrades to a miss.</summary>
    public TimeSpan AsyncTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How old the cached view of live nodes may be when a lookup uses it; lapsed heartbeats are noticed
    /// within this delay. Zero: read the membership before every lookup (two round trips; for tests).</summary>
    public TimeSpan MembershipCacheTime { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Throws a clear error naming the offending setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Endpoints))
        {
            throw new ArgumentException("Redis endpoints are required (host:port[,host:port...]).", nameof(Endpoints));
        }

        if (Database < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Database), Database, "The database index must be non-negative.");
        }

        foreach (var character in KeyPrefix)
        {
            if (!(char.IsAsciiLetterOrDigit(character) || character is ':' or '.' or '_' or '-'))
            {
                throw new ArgumentException(
                    $"Key prefix '{KeyPrefix}' contains '{character}'; only letters, digits and ':._-' are allowed.", nameof(KeyPrefix));
            }
        }

        foreach (var (name, value) in new[] { (nameof(ConnectTimeout), ConnectTimeout), (nameof(SyncTimeout), SyncTimeout), (nameof(AsyncTimeout), AsyncTimeout) })
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromMinutes(10))
            {
                throw new ArgumentOutOfRangeException(name, value, $"{name} must lie between 0 (exclusive) and 10 minutes.");
            }
        }

        if (MembershipCacheTime < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MembershipCacheTime), MembershipCacheTime, "Must not be negative.");
        }
    }

    /// <summary>The StackExchange.Redis configuration: never abort on a failed connect (reads degrade to misses and
    /// the multiplexer keeps reconnecting in the background).</summary>
    public ConfigurationOptions ToConfiguration()
    {
        Validate();
        var configuration = ConfigurationOptions.Parse(Endpoints);
        configuration.User = User;
        configuration.Password = Password;
        configuration.Ssl = UseTls;
        configuration.SslHost = TlsHost;
        if (TlsTrustedIssuerPath is not null)
        {
            configuration.TrustIssuer(TlsTrustedIssuerPath);
        }

        configuration.DefaultDatabase = Database;
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)ConnectTimeout.TotalMilliseconds;
        configuration.SyncTimeout = (int)SyncTimeout.TotalMilliseconds;
        configuration.AsyncTimeout = (int)AsyncTimeout.TotalMilliseconds;
        configuration.ConnectRetry = 3;
        configuration.ClientName = "kvtier-directory";
        return configuration;
    }
}
