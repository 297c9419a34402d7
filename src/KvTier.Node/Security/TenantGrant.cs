using KvTier.Core;

namespace KvTier.Node.Security;

/// <summary>What one bearer token lets its holder do: the tenant it speaks for, the namespaces it may use, and
/// whether it may call the control plane's admin RPCs.</summary>
public sealed class TenantGrant
{
    private readonly HashSet<NamespaceId> namespaces;

    /// <summary>Creates a grant; <paramref name="anyNamespace"/> lets it use every namespace.</summary>
    public TenantGrant(string tenant, bool admin, bool anyNamespace, IEnumerable<NamespaceId> namespaces)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(tenant);
        ArgumentNullException.ThrowIfNull(namespaces);
        Tenant = tenant;
        Admin = admin;
        AnyNamespace = anyNamespace;
        this.namespaces = [.. namespaces];
    }

    /// <summary>The tenant's name (logs, metrics; each tenant's leases and reservations are its own).</summary>
    public string Tenant { get; }

    /// <summary>May call Drain, RegisterNamespace and DropNamespace.</summary>
    public bool Admin { get; }

    /// <summary>May use every namespace ("*").</summary>
    public bool AnyNamespace { get; }

    /// <summary>Whether requests for <paramref name="kvNamespace"/> are allowed.</summary>
    public bool MayUse(NamespaceId kvNamespace) => AnyNamespace || namespaces.Contains(kvNamespace);
}
