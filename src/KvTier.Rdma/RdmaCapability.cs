using System.Text;
using KvTier.Rdma.Native;

namespace KvTier.Rdma;

/// <summary>Whether this machine can do RDMA, and if not, why.</summary>
public enum RdmaAvailability
{
    /// <summary>At least one device is present.</summary>
    Available,

    /// <summary>libibverbs loads but reports no device (no NIC, or no kernel RDMA support).</summary>
    NoDevice,

    /// <summary>libibverbs.so.1 is not installed (Debian: libibverbs1 and ibverbs-providers).</summary>
    LibibverbsMissing,

    /// <summary>libkvtier_rdma.so was not found (build native/ or set KVTIER_RDMA_SHIM).</summary>
    ShimMissing,

    /// <summary>The shim found has another ABI version or struct layout than this binding.</summary>
    ShimIncompatible,
}

/// <summary>An RDMA device as probed.</summary>
/// <param name="Name">Kernel device name (mlx5_0, rxe0).</param>
/// <param name="NodeGuid">Node GUID.</param>
/// <param name="PortCount">Physical ports.</param>
public sealed record RdmaDevice(string Name, ulong NodeGuid, uint PortCount);

/// <summary>The result of <see cref="RdmaCapability.Detect"/>.</summary>
/// <param name="Availability">The verdict.</param>
/// <param name="Reason">One line for logs and metrics, naming what is missing.</param>
/// <param name="Devices">The devices found (empty unless available).</param>
public sealed record RdmaCapabilityReport(RdmaAvailability Availability, string Reason, IReadOnlyList<RdmaDevice> Devices)
{
    /// <summary>Whether RDMA can be used.</summary>
    public bool IsAvailable => Availability == RdmaAvailability.Available;
}

/// <summary>Detects RDMA support without throwing: machines without it get a clear report and use TCP.</summary>
public static class RdmaCapability
{
    private const int ENOENT = 2;
    private static readonly Lazy<string?> Compatibility = new(CheckShim);

    /// <summary>Probes the shim, libibverbs and the devices.</summary>
    public static unsafe RdmaCapabilityReport Detect()
    {
        var problem = Compatibility.Value;
        if (problem is not null)
        {
            var missing = problem.StartsWith("shim missing", StringComparison.Ordinal);
            return new(missing ? RdmaAvailability.ShimMissing : RdmaAvailability.ShimIncompatible, problem, []);
        }

        var loaded = NativeMethods.Load();
        if (loaded == -ENOENT)
        {
            return new(RdmaAvailability.LibibverbsMissing,
                $"libibverbs missing: {NativeMethods.LastErrorText()}", []);
        }

        if (loaded < 0)
        {
            return new(RdmaAvailability.LibibverbsMissing, $"libibverbs unusable: {NativeMethods.LastErrorText()}", []);
        }

        const int capacity = 32;
        var devices = stackalloc DeviceInfo[capacity];
        uint count;
        var probed = NativeMethods.Probe(devices, capacity, &count);
        if (probed < 0)
        {
            return new(RdmaAvailability.NoDevice,
                $"no RDMA device: probing failed with errno {-probed} ({NativeMethods.LastErrorText()})", []);
        }

        if (count == 0)
        {
            return new(RdmaAvailability.NoDevice, "no RDMA device: libibverbs found none (no NIC or no kernel RDMA)", []);
        }

        var found = new List<RdmaDevice>();
        for (var i = 0; i < Math.Min(count, capacity); i++)
        {
            var name = new ReadOnlySpan<byte>(devices[i].Name, DeviceInfo.NameBytes);
            var length = name.IndexOf((byte)0);
            found.Add(new RdmaDevice(Encoding.UTF8.GetString(length < 0 ? name : name[..length]), devices[i].NodeGuid,
                devices[i].PortCount));
        }

        return new(RdmaAvailability.Available,
            $"RDMA available: {string.Join(", ", found.Select(device => device.Name))}", found);
    }

    /// <summary>Throws a clear <see cref="RdmaException"/> when the shim or libibverbs cannot be used.</summary>
    internal static void EnsureUsable()
    {
        var problem = Compatibility.Value;
        if (problem is not null)
        {
            throw new RdmaException($"RDMA is unavailable: {problem}");
        }

        var loaded = NativeMethods.Load();
        if (loaded < 0)
        {
            throw new RdmaException("Loading libibverbs", -loaded, NativeMethods.LastErrorText());
        }
    }

    private static string? CheckShim()
    {
        try
        {
            return RdmaLibrary.CheckCompatibility();
        }
        catch (DllNotFoundException exception)
        {
            return $"shim missing: libkvtier_rdma.so not found (searched {string.Join(", ", RdmaLibrary.Candidates())}; " +
                   $"build native/ or set {RdmaLibrary.PathVariable}): {exception.Message}";
        }
        catch (EntryPointNotFoundException exception)
        {
            return $"the shim lacks an entry point this binding needs: {exception.Message}";
        }
    }
}
