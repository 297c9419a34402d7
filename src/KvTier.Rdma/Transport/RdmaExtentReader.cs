using System.Diagnostics;
using System.IO.Hashing;

namespace KvTier.Rdma;

/// <summary>
/// The client side of the RDMA transport for one node: one RC queue pair connected to the node's (exchanged through
/// an <see cref="RdmaConnector"/>, i.e. the control plane), moving chunk extents between the node's registered arena
/// and a local registered region with one-sided operations. Reads post batched RDMA READs of leased extents (one
/// doorbell per batch, the last signaled), poll completions, map error completions to per-transfer failures and
/// check each chunk's XXH3-64 when it landed in host memory; writes put chunks into reserved extents. After a
/// queue-pair error it reconnects (reset, new exchange) and retries what was flushed, and what failed because the
/// path broke (transport retries exhausted: the node dropped the queue pair or the link went down).
/// </summary>
/// <remarks>
/// The calling thread polls the completion queue (transfers take microseconds to milliseconds), so calls are
/// synchronous once connected; one call runs at a time per reader. Create one reader per node: a call reads into the
/// reader's <see cref="Local"/> region, or into another region of the same device (a GPU destination) it names.
/// </remarks>
public sealed class RdmaExtentReader : IDisposable
{
    private readonly RdmaConnector connector;
    private readonly RdmaCompletionQueue completionQueue;
    private readonly RdmaQueuePair queuePair;
    private readonly RdmaOperation[] operations;
    private readonly RdmaCompletion[] completions;
    private readonly SemaphoreSlim oneCall = new(1, 1);
    private RdmaRemoteArena? remote;
    private bool broken;
    private bool everConnected;
    private string? callFailure;
    private long reconnects;
    private bool disposed;

    /// <summary>Creates the reader's completion queue and queue pair on <paramref name="context"/>; nothing is
    /// exchanged with the node until the first call or <see cref="ConnectAsync"/>.</summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public RdmaExtentReader(RdmaContext context, RdmaDestination local, RdmaConnector connector, RdmaReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        Local = local ?? throw new ArgumentNullException(nameof(local));
        this.connector = connector ?? throw new ArgumentNullException(nameof(connector));
        Options = options ?? new RdmaReaderOptions();
        Options.Validate();
        operations = new RdmaOperation[Options.BatchSize];
        completions = new RdmaCompletion[Math.Min(Options.QueueDepth, 256u)];
        completionQueue = context.CreateCompletionQueue(Options.QueueDepth + 1);
        try
        {
            queuePair = context.CreateQueuePair(completionQueue, Options.QueueDepth);
        }
        catch
        {
            completionQueue.Dispose();
            throw;
        }
    }

    /// <summary>The local region transfers read into and write from.</summary>
    public RdmaDestination Local { get; }

    /// <summary>The reader's settings.</summary>
    public RdmaReaderOptions Options { get; }

    /// <summary>The node's arena, once connected.</summary>
    public RdmaRemoteArena? RemoteArena => remote;

    /// <summary>Whether the queue pair is connected and not in error.</summary>
    public bool IsConnected => remote is not null && !broken;

    /// <summary>Reconnects after queue-pair errors over the reader's lifetime.</summary>
    public long Reconnects => Interlocked.Read(ref reconnects);

    /// <summary>Exchanges endpoints with the node and connects the queue pair (also done by the first transfer).</summary>
    public async ValueTask ConnectAsync(CancellationToken cancellationToken = default)
    {
        await oneCall.WaitAsync(cancellationToken);
        try
        {
            await ConnectCoreAsync(cancellationToken);
        }
        finally
        {
            oneCall.Release();
        }
    }

    /// <summary>Reads each transfer's extent of the node's arena into the local region, and reports per transfer in
    /// <paramref name="statuses"/>: <see cref="RdmaTransferStatus.Verified"/> (host memory, checksum matched),
    /// <see cref="RdmaTransferStatus.Delivered"/> (GPU memory), or why it failed.</summary>
    public Task<RdmaTransferSummary> ReadAsync(ReadOnlyMemory<RdmaExtentTransfer> transfers, Memory<RdmaTransferStatus> statuses,
        CancellationToken cancellationToken = default) =>
        TransferAsync(RdmaOpcode.Read, Local, transfers, statuses, cancellationToken);

    /// <summary>Like <see cref="ReadAsync(ReadOnlyMemory{RdmaExtentTransfer}, Memory{RdmaTransferStatus}, CancellationToken)"/>,
    /// into <paramref name="into"/> instead of <see cref="Local"/> (local offsets are relative to it). The region must
    /// belong to this reader's device; a <see cref="RdmaMemoryKind.Device"/> region's transfers are
    /// <see cref="RdmaTransferStatus.Delivered"/>, not verified.</summary>
    public Task<RdmaTransferSummary> ReadAsync(RdmaDestination into, ReadOnlyMemory<RdmaExtentTransfer> transfers,
        Memory<RdmaTransferStatus> statuses, CancellationToken cancellationToken = default) =>
        TransferAsync(RdmaOpcode.Read, into ?? throw new ArgumentNullException(nameof(into)), transfers, statuses, cancellationToken);

    /// <summary>Writes each transfer's bytes from the local region into its (reserved) extent of the node's arena;
    /// successes are <see cref="RdmaTransferStatus.Delivered"/> (the node checks checksums on commit).</summary>
    public Task<RdmaTransferSummary> WriteAsync(ReadOnlyMemory<RdmaExtentTransfer> transfers, Memory<RdmaTransferStatus> statuses,
        CancellationToken cancellationToken = default) =>
        TransferAsync(RdmaOpcode.Write, Local, transfers, statuses, cancellationToken);

    /// <summary>Destroys the queue pair and completion queue (the node's side goes with its control-plane session).</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        queuePair.Dispose();
        completionQueue.Dispose();
        oneCall.Dispose();
    }

    private async Task<RdmaTransferSummary> TransferAsync(RdmaOpcode opcode, RdmaDestination local, ReadOnlyMemory<RdmaExtentTransfer> transfers,
        Memory<RdmaTransferStatus> statuses, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (statuses.Length < transfers.Length)
        {
            throw new ArgumentException($"{statuses.Length} statuses cannot report {transfers.Length} transfers.", nameof(statuses));
        }

        await oneCall.WaitAsync(cancellationToken);
        try
        {
            callFailure = null;
            statuses.Span[..transfers.Length].Clear(); // NotAttempted
            if (remote is null || broken)
            {
                await ConnectCoreAsync(cancellationToken);
            }

            var work = Validate(local.Region, transfers.Span, statuses.Span);
            var reconnectsThisCall = 0;
            while (work.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var retry = RunRound(opcode, local.Region, transfers.Span, statuses.Span, work);
                if (!broken)
                {
                    break;
                }

                if (reconnectsThisCall == Options.MaxReconnects)
                {
                    foreach (var index in retry)
                    {
                        Fail(statuses.Span, index, RdmaTransferStatus.Failed,
                            $"still not transferred after {reconnectsThisCall} reconnects");
                    }

                    break;
                }

                await ConnectCoreAsync(cancellationToken);
                reconnectsThisCall++;
                work = retry;
            }

            if (opcode == RdmaOpcode.Read && local.Kind == RdmaMemoryKind.Host)
            {
                Verify(local.Region, transfers.Span, statuses.Span);
            }

            var succeeded = 0;
            foreach (var status in statuses.Span[..transfers.Length])
            {
                succeeded += status is RdmaTransferStatus.Verified or RdmaTransferStatus.Delivered ? 1 : 0;
            }

            return new RdmaTransferSummary(succeeded, transfers.Length - succeeded, reconnectsThisCall, callFailure);
        }
        finally
        {
            oneCall.Release();
        }
    }

    private async ValueTask ConnectCoreAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (everConnected)
        {
            // Back to RESET discards whatever the error left queued; stale completions are dropped with it.
            queuePair.Reset();
            while (completionQueue.Poll(completions) > 0)
            {
            }

            Interlocked.Increment(ref reconnects);
        }

        broken = true;
        var answer = await connector(queuePair.LocalEndpoint, cancellationToken);
        queuePair.Connect(answer.Endpoint, Options.Connect);
        everConnected = true;
        remote = answer;
        broken = false;
    }

    /// <summary>Refuses transfers outside the arena or the local region (the shim would refuse their whole batch).</summary>
    private List<int> Validate(RdmaMemoryRegion region, ReadOnlySpan<RdmaExtentTransfer> transfers, Span<RdmaTransferStatus> statuses)
    {
        var arena = remote!.Value;
        var work = new List<int>(transfers.Length);
        for (var i = 0; i < transfers.Length; i++)
        {
            var t = transfers[i];
            if (t.Length == 0 || t.RemoteOffset > arena.Length || t.Length > arena.Length - t.RemoteOffset)
            {
                Fail(statuses, i, RdmaTransferStatus.OutOfRange,
                    $"remote extent [{t.RemoteOffset}, +{t.Length}) is outside the node's {arena.Length}-byte arena");
            }
            else if (t.LocalOffset > region.Length || t.Length > region.Length - t.LocalOffset)
            {
                Fail(statuses, i, RdmaTransferStatus.OutOfRange,
                    $"local range [{t.LocalOffset}, +{t.Length}) is outside the {region.Length}-byte local region");
            }
            else
            {
                work.Add(i);
            }
        }

        return work;
    }

    /// <summary>Posts <paramref name="work"/> in batches within the queue depth and resolves every posted
    /// operation from the completions (in order on one queue pair: an operation before a completed one succeeded
    /// unless it completed with an error itself). Returns what must be retried after reconnecting.</summary>
    private List<int> RunRound(RdmaOpcode opcode, RdmaMemoryRegion region, ReadOnlySpan<RdmaExtentTransfer> transfers,
        Span<RdmaTransferStatus> statuses, List<int> work)
    {
        var arena = remote!.Value;
        var retry = new List<int>();
        var posted = 0;
        var resolved = 0;
        var stalled = Stopwatch.StartNew();
        var spinner = default(SpinWait);
        while (resolved < posted || (!broken && posted < work.Count))
        {
            var room = (int)Options.QueueDepth - (posted - resolved);
            if (!broken && posted < work.Count && room > 0)
            {
                var count = Math.Min(Math.Min(Options.BatchSize, room), work.Count - posted);
                for (var k = 0; k < count; k++)
                {
                    var t = transfers[work[posted + k]];
                    operations[k] = new RdmaOperation
                    {
                        RequestId = (ulong)(posted + k),
                        LocalAddress = region.Address + t.LocalOffset,
                        RemoteAddress = arena.Address + t.RemoteOffset,
                        Length = t.Length,
                        RemoteKey = arena.RemoteKey,
                        Opcode = opcode,
                        Flags = k == count - 1 ? RdmaOperationFlags.Signaled : RdmaOperationFlags.None,
                    };
                }

                if (queuePair.TryPost(region, operations.AsSpan(0, count), out _) < 0)
                {
                    // Part of the batch may have been accepted unsignaled: its outcome is unknowable, so the whole
                    // batch is redone after a reconnect (reads and writes of fixed extents are idempotent).
                    broken = true;
                    callFailure ??= "posting to the queue pair failed";
                }
                else
                {
                    posted += count;
                    continue;
                }
            }

            var polled = completionQueue.Poll(completions);
            if (polled == 0)
            {
                if (resolved < posted && stalled.Elapsed > Options.CompletionTimeout)
                {
                    for (var p = resolved; p < posted; p++)
                    {
                        Fail(statuses, work[p], RdmaTransferStatus.Failed, $"no completion within {Options.CompletionTimeout}");
                    }

                    resolved = posted;
                    broken = true;
                }

                spinner.SpinOnce();
                continue;
            }

            stalled.Restart();
            spinner = default;
            for (var c = 0; c < polled; c++)
            {
                var completion = completions[c];
                var p = (int)completion.RequestId;
                if (p < resolved || p >= posted)
                {
                    continue;
                }

                for (var q = resolved; q < p; q++)
                {
                    statuses[work[q]] = RdmaTransferStatus.Delivered;
                }

                resolved = p + 1;
                switch (completion.Status)
                {
                    case RdmaCompletionStatus.Success:
                        statuses[work[p]] = RdmaTransferStatus.Delivered;
                        break;
                    case RdmaCompletionStatus.Flushed:
                        broken = true;
                        retry.Add(work[p]);
                        break;
                    case RdmaCompletionStatus.RetryExceeded:
                        // The path broke, not the request (the node's queue pair is gone, or the link went down):
                        // the transfer never reached the arena, so it is retried after the reconnect like the
                        // flushed rest (reads and writes of fixed extents are idempotent).
                        broken = true;
                        callFailure ??= $"the node stopped answering on the queue pair (completion {completion.Status})";
                        retry.Add(work[p]);
                        break;
                    case RdmaCompletionStatus.RemoteAccess:
                        broken = true;
                        Fail(statuses, work[p], RdmaTransferStatus.RemoteAccess,
                            $"the node refused access to arena extent [{transfers[work[p]].RemoteOffset}, +{transfers[work[p]].Length})");
                        break;
                    default:
                        broken = true;
                        Fail(statuses, work[p], RdmaTransferStatus.Failed,
                            $"completion {completion.Status} (verbs status {completion.RawStatus}, vendor error {completion.VendorError})");
                        break;
                }
            }
        }

        // Not posted because the queue pair broke first.
        retry.AddRange(work.GetRange(posted, work.Count - posted));
        return retry;
    }

    private unsafe void Verify(RdmaMemoryRegion region, ReadOnlySpan<RdmaExtentTransfer> transfers, Span<RdmaTransferStatus> statuses)
    {
        for (var i = 0; i < transfers.Length; i++)
        {
            if (statuses[i] != RdmaTransferStatus.Delivered)
            {
                continue;
            }

            var t = transfers[i];
            var bytes = new ReadOnlySpan<byte>((void*)(nint)(region.Address + t.LocalOffset), (int)t.Length);
            if (XxHash3.HashToUInt64(bytes) == t.Checksum)
            {
                statuses[i] = RdmaTransferStatus.Verified;
            }
            else
            {
                Fail(statuses, i, RdmaTransferStatus.ChecksumMismatch,
                    $"arena extent [{t.RemoteOffset}, +{t.Length}) does not match its checksum {t.Checksum:x16}");
            }
        }
    }

    private void Fail(Span<RdmaTransferStatus> statuses, int index, RdmaTransferStatus status, string reason)
    {
        statuses[index] = status;
        callFailure ??= $"transfer {index}: {reason}";
    }
}
