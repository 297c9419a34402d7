namespace KvTier.BlockDirectory;

/// <summary>Where on a node a block lives. The numeric values are part of the directory's record format.</summary>
public enum StorageTier : byte
{
    /// <summary>The pinned host-memory arena (fastest, RDMA-readable).</summary>
    Host = 1,

    /// <summary>The NVMe tier.</summary>
    Nvme = 2,
}
