using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace KvTier.Transport.Tcp;

/// <summary>
/// The body of one request, read from the connection as the handler asks for it (<see cref="IStreamedFrameHandler"/>):
/// a small head can be peeked into a pooled buffer and parsed, then bulk bytes are read straight into the handler's
/// memory, or skipped. Reads never go past the frame's body, and one that would is a
/// <see cref="ProtocolViolationException"/> (the body is shorter than its contents claim). One instance serves every
/// request of a connection in turn; it is not thread-safe.
/// </summary>
public sealed class StreamedBody : IDisposable
{
    private const int SkipChunk = 64 << 10;
    private readonly Stream stream;
    private byte[] peekBuffer = [];
    private int peeked;
    private int peekStart;
    private int unread;
    private long deadline;
    private CancellationTokenSource? guard;

    /// <summary>Reads bodies from <paramref name="stream"/> (a socket's or TLS stream; tests may pass any stream).</summary>
    public StreamedBody(Stream stream) => this.stream = stream ?? throw new ArgumentNullException(nameof(stream));

    /// <summary>Bytes of the current body.</summary>
    public int Length { get; private set; }

    /// <summary>Bytes of the current body not consumed yet (peeked bytes count until <see cref="Advance"/>).</summary>
    public int Remaining => unread + (peeked - peekStart);

    /// <summary>Starts the next body of <paramref name="length"/> bytes.</summary>
    /// <exception cref="InvalidOperationException">The previous body was not consumed.</exception>
    public void Begin(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (Remaining != 0)
        {
            throw new InvalidOperationException($"The previous body still has {Remaining} unread bytes.");
        }

        Length = length;
        unread = length;
        peeked = 0;
        peekStart = 0;
        deadline = 0;
    }

    /// <summary>Bounds every later read of this body: a read still running <paramref name="validFor"/> from now is
    /// cancelled and fails with an <see cref="IOException"/> (the connection must close), and one that finishes late
    /// fails the same way. A handler that receives into memory it holds only for a while (a reservation) sets it so
    /// the socket never writes there after that memory may have been reused.</summary>
    public void SetDeadline(TimeSpan validFor) =>
        deadline = Stopwatch.GetTimestamp() + (long)(Math.Max(0, validFor.TotalSeconds) * Stopwatch.Frequency);

    /// <summary>The next <paramref name="count"/> unconsumed bytes, read into a pooled buffer if they were not
    /// already; valid until the next call on this body. Consume them with <see cref="Advance"/>.</summary>
    /// <exception cref="ProtocolViolationException">The body has fewer than <paramref name="count"/> bytes left.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadOnlyMemory<byte>> PeekAsync(int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var have = peeked - peekStart;
        if (count > have + unread)
        {
            throw new ProtocolViolationException($"The {Length}-byte body ends {count - have - unread} bytes short of what its contents declare.");
        }

        if (count > have)
        {
            if (peekStart + count > peekBuffer.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(count, 256));
                peekBuffer.AsSpan(peekStart, have).CopyTo(larger);
                ReturnPeekBuffer();
                peekBuffer = larger;
                (peekStart, peeked) = (0, have);
            }

            var more = count - have;
            await ReadFromStreamAsync(peekBuffer.AsMemory(peeked, more), cancellationToken);
            peeked += more;
        }

        return peekBuffer.AsMemory(peekStart, count);
    }

    /// <summary>Consumes <paramref name="count"/> peeked bytes.</summary>
    public void Advance(int count)
    {
        if (count < 0 || count > peeked - peekStart)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"Only {peeked - peekStart} bytes are peeked.");
        }

        peekStart += count;
    }

    /// <summary>Fills <paramref name="destination"/> with the next bytes of the body.</summary>
    /// <exception cref="ProtocolViolationException">The body has fewer bytes left than the destination holds.</exception>
    /// <exception cref="IOException">The connection failed, or the read outlived the deadline.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadExactlyAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (destination.Length > Remaining)
        {
            throw new ProtocolViolationException($"The {Length}-byte body ends {destination.Length - Remaining} bytes short of what its contents declare.");
        }

        var fromPeek = Math.Min(destination.Length, peeked - peekStart);
        if (fromPeek > 0)
        {
            peekBuffer.AsSpan(peekStart, fromPeek).CopyTo(destination.Span);
            peekStart += fromPeek;
        }

        if (fromPeek < destination.Length)
        {
            await ReadFromStreamAsync(destination[fromPeek..], cancellationToken);
        }
    }

    /// <summary>Reads and drops the next <paramref name="count"/> bytes of the body.</summary>
    /// <exception cref="ProtocolViolationException">The body has fewer bytes left.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SkipAsync(int count, CancellationToken cancellationToken)
    {
        if (count > Remaining)
        {
            throw new ProtocolViolationException($"The {Length}-byte body ends {count - Remaining} bytes short of what its contents declare.");
        }

        var fromPeek = Math.Min(count, peeked - peekStart);
        peekStart += fromPeek;
        count -= fromPeek;
        if (count == 0)
        {
            return;
        }

        var scratch = ArrayPool<byte>.Shared.Rent(Math.Min(count, SkipChunk));
        try
        {
            while (count > 0)
            {
                var step = Math.Min(count, scratch.Length);
                await ReadFromStreamAsync(scratch.AsMemory(0, step), cancellationToken);
                count -= step;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Discards whatever the handler left of the body, so the next frame starts where it should.</summary>
    internal async ValueTask FinishAsync(CancellationToken cancellationToken)
    {
        deadline = 0;
        await SkipAsync(Remaining, cancellationToken);
        peekStart = peeked = 0;
        if (peekBuffer.Length > SkipChunk)
        {
            // A large head (thousands of declarations) is rare: do not hold its buffer for the connection's life.
            ReturnPeekBuffer();
        }
    }

    /// <summary>Returns the pooled buffers.</summary>
    public void Dispose()
    {
        ReturnPeekBuffer();
        guard?.Dispose();
        guard = null;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReadFromStreamAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (deadline == 0)
        {
            await stream.ReadExactlyAsync(destination, cancellationToken);
            unread -= destination.Length;
            return;
        }

        var left = deadline - Stopwatch.GetTimestamp();
        if (left <= 0)
        {
            throw new IOException("The request body arrived too slowly: its destination is no longer valid; closing the connection.");
        }

        var timer = guard ??= new CancellationTokenSource();
        timer.CancelAfter(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
        using var stopping = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), timer);
        try
        {
            await stream.ReadExactlyAsync(destination, timer.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException("The request body arrived too slowly: its destination is no longer valid; closing the connection.");
        }
        finally
        {
            if (!timer.TryReset())
            {
                timer.Dispose();
                guard = null;
            }
        }

        // The timer may fire late: the clock decides whether the bytes landed while the destination was valid.
        if (Stopwatch.GetTimestamp() >= deadline)
        {
            throw new IOException("The request body finished arriving after its destination stopped being valid; closing the connection.");
        }

        unread -= destination.Length;
    }

    private void ReturnPeekBuffer()
    {
        if (peekBuffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(peekBuffer);
            peekBuffer = [];
        }
    }
}
