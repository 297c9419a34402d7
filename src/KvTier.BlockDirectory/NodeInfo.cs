namespace KvTier.BlockDirectory;

/// <summary>What a cache node tells the directory about itself when it registers and heartbeats.</summary>
/// <param name="Id">The node's identity.</param>
/// <param name="Epoch">The node's incarnation: a new value whenever the node lost the blocks it held (e.g. a restart
/// without a surviving NVMe tier). Locations stored under an older epoch are ignored.</param>
/// <param name="DataPlaneAddress">Where clients read blocks (host:port, or an RDMA endpoint description).</param>
/// <param name="ControlPlaneAddress">Where clients send control requests (gRPC host:port).</param>
/// <param name="SupportsRdma">Whether the data plane accepts RDMA reads.</param>
/// <param name="CapacityBytes">Total bytes the node can hold.</param>
/// <param name="FreeBytes">Bytes free at the last heartbeat.</param>
public sealed record NodeInfo(
    NodeId Id,
    ulong Epoch,
    string DataPlaneAddress,
    string ControlPlaneAddress,
    bool SupportsRdma,
    long CapacityBytes,
    long FreeBytes)
{
    /// <summary>Longest address accepted, in UTF-8 bytes.</summary>
    public const int MaxAddressBytes = 1024;

    /// <summary>Throws a clear error naming the offending field when the record cannot be stored.</summary>
    public void Validate()
    {
        ValidateAddress(DataPlaneAddress, nameof(DataPlaneAddress));
        ValidateAddress(ControlPlaneAddress, nameof(ControlPlaneAddress));
        if (CapacityBytes < 0 || FreeBytes < 0 || FreeBytes > CapacityBytes)
        {
            throw new ArgumentException(
                $"Node {Id}: capacity {CapacityBytes} and free {FreeBytes} bytes must satisfy 0 <= free <= capacity.");
        }
    }

    private void ValidateAddress(string address, string name)
    {
        if (string.IsNullOrWhiteSpace(address) || System.Text.Encoding.UTF8.GetByteCount(address) > MaxAddressBytes)
        {
            throw new ArgumentException(
                $"Node {Id}: {name} '{address}' must be non-empty and at most {MaxAddressBytes} UTF-8 bytes.", name);
        }
    }
}
