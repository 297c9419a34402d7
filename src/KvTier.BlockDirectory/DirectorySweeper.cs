using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.BlockDirectory;

/// <summary>
/// Calls <see cref="IBlockDirectory.SweepAsync"/> every <c>interval</c> until disposed, so entries of lapsed nodes
/// and expired entries disappear even where no lookup passes by. A failed sweep is logged and retried next time.
/// </summary>
public sealed class DirectorySweeper : IAsyncDisposable
{
    private readonly CancellationTokenSource stopping = new();
    private readonly Task loop;
    private long sweeps;

    /// <summary>Starts sweeping <paramref name="directory"/> every <paramref name="interval"/>.</summary>
    public DirectorySweeper(IBlockDirectory directory, TimeSpan interval, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        loop = RunAsync(directory, interval, logger ?? NullLogger.Instance, stopping.Token);
    }

    /// <summary>Sweeps completed so far.</summary>
    public long Sweeps => Interlocked.Read(ref sweeps);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        await loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stopping.Dispose();
    }

    private async Task RunAsync(IBlockDirectory directory, TimeSpan interval, ILogger logger, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var result = await directory.SweepAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref sweeps);
                if (result.LapsedNodes > 0 || result.RemovedEntries > 0)
                {
                    logger.LogInformation("Directory sweep dropped {Nodes} lapsed nodes and {Entries} entries", result.LapsedNodes, result.RemovedEntries);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is not OutOfMemoryException)
            {
                logger.LogWarning(exception, "Directory sweep failed; retrying in {Interval}", interval);
            }
        }
    }
}
