using System.IO.Hashing;
using System.Net;
using System.Text;
using KvTier.BlockDirectory;
using KvTier.Node.Configuration;

namespace KvTier.Node.Hosting;

/// <summary>How a node names itself in the directory.</summary>
public static class NodeIdentity
{
    /// <summary>The directory id of a configured node name: XXH3-64 of its UTF-8 bytes, so the same name always
    /// maps to the same id across restarts and machines.</summary>
    public static NodeId ToNodeId(string nodeName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeName);
        return new NodeId(XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(nodeName)));
    }

    /// <summary>A fresh incarnation number (Unix milliseconds): every start gets a new epoch, so entries published
    /// by an earlier run (whose host-tier blocks are gone) become invisible at once; what the NVMe tier recovered is
    /// re-published under the new epoch.</summary>
    public static ulong NewEpoch(TimeProvider clock) => (ulong)clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>The host other machines should use: the advertised address, else the bind address unless it is a
    /// wildcard, else the host name.</summary>
    public static string AdvertisedHost(NodeOptions options, EndpointOptions endpoint)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(endpoint);
        if (!string.IsNullOrWhiteSpace(options.AdvertiseAddress))
        {
            return options.AdvertiseAddress;
        }

        return IPAddress.TryParse(endpoint.Host, out var address) && !address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any)
            ? endpoint.Host
            : Environment.MachineName;
    }

    /// <summary>The version string reported by the control plane.</summary>
    public static string Version =>
        typeof(NodeIdentity).Assembly.GetName().Version?.ToString() ?? "0.0.0";
}
