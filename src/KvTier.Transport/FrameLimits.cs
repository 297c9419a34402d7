namespace KvTier.Transport;

/// <summary>Upper bounds on every size field of the protocol, checked before any memory is touched or allocated.
/// Both sides use the same defaults; a node may lower them.</summary>
public sealed record FrameLimits
{
    /// <summary>Largest frame body (default 256 MiB: a batch of 2 MiB blocks, with room).</summary>
    public int MaxBodyBytes { get; init; } = 256 << 20;

    /// <summary>Most blocks in one request (default 4096).</summary>
    public int MaxBlocksPerRequest { get; init; } = 4096;

    /// <summary>Most chunks (layers) in one block (default 1024, the largest layer count of a layout).</summary>
    public int MaxChunksPerBlock { get; init; } = 1024;

    /// <summary>Largest single chunk (default 64 MiB).</summary>
    public int MaxChunkBytes { get; init; } = 64 << 20;

    /// <summary>The defaults.</summary>
    public static FrameLimits Default { get; } = new();
}
