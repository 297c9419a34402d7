namespace KvTier.Rdma;

/// <summary>One extent to move: a chunk of the node's arena (a leased extent for reads, a reserved extent for
/// writes) and its place in the local region.</summary>
/// <param name="RemoteOffset">Offset inside the node's arena (the extent offset LeaseBlocks or ReserveBlocks gave).</param>
/// <param name="Length">Bytes.</param>
/// <param name="LocalOffset">Offset inside the local region.</param>
/// <param name="Checksum">The chunk's XXH3-64 (from the lease), checked after a read into host memory.</param>
public readonly record struct RdmaExtentTransfer(ulong RemoteOffset, uint Length, ulong LocalOffset, ulong Checksum);

/// <summary>How one transfer ended.</summary>
public enum RdmaTransferStatus : byte
{
    /// <summary>Not run (the call was cancelled or failed before reaching it).</summary>
    NotAttempted,

    /// <summary>Read into host memory and its XXH3-64 matched.</summary>
    Verified,

    /// <summary>Moved, not checked here: a read into GPU memory, or a write (the node checks written extents when the
    /// blocks are committed).</summary>
    Delivered,

    /// <summary>Read, but the bytes do not match the checksum: the chunk must not be used (try another copy).</summary>
    ChecksumMismatch,

    /// <summary>The remote or local range lies outside the arena or the local region; nothing was posted for it.</summary>
    OutOfRange,

    /// <summary>The node's NIC refused the access (stale rkey, range or permission): a per-block failure.</summary>
    RemoteAccess,

    /// <summary>Failed otherwise (transport error, retries exhausted, timed out, still flushed after reconnecting).</summary>
    Failed,
}

/// <summary>Settings of an <see cref="RdmaExtentReader"/>.</summary>
public sealed record RdmaReaderOptions
{
    /// <summary>Send-queue depth: operations in flight at once (default 256).</summary>
    public uint QueueDepth { get; init; } = 256;

    /// <summary>Operations per post (one doorbell; the last is signaled). Default 32.</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>How long to wait for the next completion before the queue pair is treated as broken.</summary>
    public TimeSpan CompletionTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Reconnects within one call before flushed transfers are given up (default 2).</summary>
    public int MaxReconnects { get; init; } = 2;

    /// <summary>RC connection tuning for the client's side.</summary>
    public RdmaConnectOptions Connect { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming a bad setting.</summary>
    public void Validate()
    {
        if (QueueDepth is 0 or > 65536)
        {
            throw new ArgumentException($"QueueDepth must be 1..65536, not {QueueDepth}.", nameof(QueueDepth));
        }

        if (BatchSize <= 0 || BatchSize > QueueDepth)
        {
            throw new ArgumentException($"BatchSize must be 1..QueueDepth ({QueueDepth}), not {BatchSize}.", nameof(BatchSize));
        }

        if (CompletionTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"CompletionTimeout must be positive, not {CompletionTimeout}.", nameof(CompletionTimeout));
        }

        if (MaxReconnects < 0)
        {
            throw new ArgumentException($"MaxReconnects must be 0 or more, not {MaxReconnects}.", nameof(MaxReconnects));
        }
    }
}

/// <summary>Outcome of one <see cref="RdmaExtentReader"/> call (per-transfer statuses are in the caller's span).</summary>
/// <param name="Succeeded">Transfers <see cref="RdmaTransferStatus.Verified"/> or <see cref="RdmaTransferStatus.Delivered"/>.</param>
/// <param name="Failed">The others.</param>
/// <param name="Reconnects">Queue-pair reconnects this call needed.</param>
/// <param name="FirstFailure">Why the first failed transfer failed (null when none did).</param>
public sealed record RdmaTransferSummary(int Succeeded, int Failed, int Reconnects, string? FirstFailure);
