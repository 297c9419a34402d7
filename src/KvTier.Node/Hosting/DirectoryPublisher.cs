using System.Threading.Channels;
using KvTier.BlockDirectory;
using KvTier.Core;
using KvTier.Node.Metrics;
using KvTier.Storage;
using Microsoft.Extensions.Logging;
using DirectoryTier = KvTier.BlockDirectory.StorageTier;
using StoreTier = KvTier.Storage.StorageTier;

namespace KvTier.Node.Hosting;

/// <summary>
/// Mirrors block lifecycle changes into the directory. Engine threads only enqueue (an unbounded channel write,
/// which never blocks); one background loop drains the queue in batches, keeps the last change per block, and
/// publishes and unpublishes per namespace. A block whose anchor is unknown cannot be addressed in the directory
/// and is skipped (counted as <c>kvtier_publish_skipped_total</c>).
/// </summary>
public sealed class DirectoryPublisher : IStorageObserver, IAsyncDisposable
{
    private const int MaxBatch = 4096;
    private readonly Channel<Change> changes = Channel.CreateUnbounded<Change>(new UnboundedChannelOptions { SingleReader = true });
    private readonly IBlockDirectory directory;
    private readonly BlockAnchorBook anchors;
    private readonly ILogger logger;
    private readonly Counter published;
    private readonly Counter unpublished;
    private readonly Counter failures;
    private readonly Counter skipped;

    // Sizes of published blocks, so a tier change can be re-published (the observer's tier event carries no size).
    // Touched only by the loop.
    private readonly Dictionary<BlockId, int> sizes = [];
    private Task? loop;
    private long pending;

    /// <summary>Creates a publisher; call <see cref="Start"/> once the node's identity is known.</summary>
    public DirectoryPublisher(IBlockDirectory directory, BlockAnchorBook anchors, MetricsRegistry metrics, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        this.directory = directory ?? throw new ArgumentNullException(nameof(directory));
        this.anchors = anchors ?? throw new ArgumentNullException(nameof(anchors));
        this.logger = logger ?? throw new ArgumentNullException(nameof(logger));
        published = metrics.Counter("kvtier_directory_published_total", "Block locations written to the directory.");
        unpublished = metrics.Counter("kvtier_directory_unpublished_total", "Block locations removed from the directory.");
        failures = metrics.Counter("kvtier_publish_failures_total", "Publications or removals the directory dropped or refused.");
        skipped = metrics.Counter("kvtier_publish_skipped_total", "Blocks not published because their directory anchor is unknown.");
        metrics.Gauge("kvtier_publish_queue", "Lifecycle changes waiting to be mirrored into the directory.", () => Interlocked.Read(ref pending));
    }

    /// <summary>Changes waiting for the loop.</summary>
    public long Pending => Interlocked.Read(ref pending);

    /// <summary>The node and epoch the locations are published under (set before <see cref="Start"/>).</summary>
    public NodeId Node { get; set; }

    /// <summary>The node's current epoch.</summary>
    public ulong Epoch { get; set; }

    /// <summary>Starts the background loop.</summary>
    public void Start() => loop ??= Task.Run(RunAsync);

    /// <inheritdoc/>
    public void OnCommitted(in BlockId id, int bytes) => Enqueue(new Change(id, ChangeKind.Publish, DirectoryTier.Host, bytes));

    /// <inheritdoc/>
    public void OnTierChanged(in BlockId id, StoreTier tier) =>
        Enqueue(new Change(id, ChangeKind.Retier, tier == StoreTier.Nvme ? DirectoryTier.Nvme : DirectoryTier.Host, 0));

    /// <inheritdoc/>
    public void OnRemoved(in BlockId id, RemovalReason reason) => Enqueue(new Change(id, ChangeKind.Remove, DirectoryTier.Host, 0));

    /// <summary>Queues the publication of a block the node already holds (recovery).</summary>
    public void Republish(in StoredBlock block) =>
        Enqueue(new Change(block.Id, ChangeKind.Publish, block.Tier == StoreTier.Nvme ? DirectoryTier.Nvme : DirectoryTier.Host, block.Bytes));

    /// <summary>Waits until every change queued so far has been sent (or <paramref name="cancellationToken"/> fires).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (Interlocked.Read(ref pending) > 0)
        {
            await Task.Delay(10, cancellationToken);
        }
    }

    /// <summary>Stops taking changes, sends what is queued, and ends the loop.</summary>
    public async ValueTask DisposeAsync()
    {
        changes.Writer.TryComplete();
        if (loop is not null)
        {
            await loop;
        }
    }

    private void Enqueue(Change change)
    {
        if (changes.Writer.TryWrite(change))
        {
            Interlocked.Increment(ref pending);
        }
    }

    private async Task RunAsync()
    {
        var batch = new List<Change>(MaxBatch);
        while (await changes.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < MaxBatch && changes.Reader.TryRead(out var change))
            {
                batch.Add(change);
            }

            try
            {
                await SendAsync(batch);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                failures.Add(batch.Count);
                logger.LogWarning("Directory update of {Count} blocks failed: {Reason}", batch.Count, error.Message);
            }
            finally
            {
                Interlocked.Add(ref pending, -batch.Count);
            }
        }
    }

    private async Task SendAsync(List<Change> batch)
    {
        // The last change per block wins: a commit followed by an eviction in one batch is one removal.
        var latest = new Dictionary<BlockId, Change>(batch.Count);
        foreach (var change in batch)
        {
            latest[change.Id] = change.Kind == ChangeKind.Retier && latest.TryGetValue(change.Id, out var earlier) && earlier.Kind == ChangeKind.Publish
                ? earlier with { Tier = change.Tier }
                : change;
        }

        var toPersist = new List<(BlockId, BlockKey)>();
        foreach (var group in latest.Values.GroupBy(change => change.Id.Namespace))
        {
            var publications = new List<BlockPublication>();
            var removals = new List<DirectoryKey>();
            foreach (var change in group)
            {
                if (!anchors.TryGet(change.Id, out var anchor))
                {
                    skipped.Increment();
                    continue;
                }

                var key = new DirectoryKey(change.Id.Key, anchor);
                switch (change.Kind)
                {
                    case ChangeKind.Publish:
                        publications.Add(new BlockPublication(key, new BlockLocation(Node, change.Tier, change.Bytes, Epoch)));
                        sizes[change.Id] = change.Bytes;
                        toPersist.Add((change.Id, anchor));
                        break;
                    case ChangeKind.Retier when sizes.TryGetValue(change.Id, out var bytes):
                        // Demoted or promoted: replace the entry so lookups can prefer host-tier copies.
                        publications.Add(new BlockPublication(key, new BlockLocation(Node, change.Tier, bytes, Epoch)));
                        break;
                    case ChangeKind.Retier:
                        break;
                    case ChangeKind.Remove:
                        removals.Add(key);
                        sizes.Remove(change.Id);
                        anchors.Forget(change.Id);
                        break;
                }
            }

            await PublishGroupAsync(group.Key, publications, removals);
        }

        anchors.Persist(toPersist);
    }

    private async Task PublishGroupAsync(NamespaceId ns, List<BlockPublication> publications, List<DirectoryKey> removals)
    {
        if (publications.Count > 0)
        {
            var result = await directory.PublishAsync(ns, publications);
            published.Add(result.Published);
            failures.Add(result.Dropped);
        }

        if (removals.Count > 0)
        {
            await directory.UnpublishAsync(ns, Node, removals);
            unpublished.Add(removals.Count);
        }
    }

    private enum ChangeKind : byte
    {
        Publish,
        Retier,
        Remove,
    }

    private readonly record struct Change(BlockId Id, ChangeKind Kind, DirectoryTier Tier, int Bytes);
}
