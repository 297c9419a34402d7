using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;

namespace KvTier.Transport.Tcp;

/// <summary>Sends the one response to a request: the header, then the body as one or more segments, so bulk
/// bytes (arena extents) go to the socket without being copied into a frame buffer first. A small body (or the
/// small first segment of a large one) goes out in the same write as the header: one send, one TCP segment.</summary>
public sealed class FrameResponder
{
    private const int CoalesceBytes = 4096;
    private readonly Stream stream;
    private readonly byte[] sendBuffer = new byte[CoalesceBytes];
    // Set for a plain TCP connection, whose answers leave through gathered sends (TLS must go through its stream).
    private readonly Socket? socket;
    private CancellationTokenSource? sendGuard;
    private FrameHeader request;

    internal FrameResponder(Stream stream)
    {
        this.stream = stream;
        socket = GatheredSend.IsSupported && stream is NetworkStream plain ? plain.Socket : null;
    }

    /// <summary>Whether the current request was answered.</summary>
    public bool HasResponded { get; private set; }

    /// <summary>The status the current request was answered with.</summary>
    internal FrameStatus Status { get; private set; }

    /// <summary>Body bytes of the current answer.</summary>
    internal long BodyBytes { get; private set; }

    internal void Begin(FrameHeader requestHeader)
    {
        request = requestHeader;
        HasResponded = false;
        Status = FrameStatus.Ok;
        BodyBytes = 0;
    }

    /// <summary>Answers with a single-segment body (possibly empty).</summary>
    public ValueTask SendAsync(FrameStatus status, ReadOnlyMemory<byte> body, CancellationToken cancellationToken) =>
        SendAsync(status, new ReadOnlySequence<byte>(body), cancellationToken);

    /// <summary>Answers with a body made of segments written back to back.</summary>
    public async ValueTask SendAsync(FrameStatus status, ReadOnlySequence<byte> body, CancellationToken cancellationToken)
    {
        if (body.Length > int.MaxValue)
        {
            throw new ArgumentException($"Response body of {body.Length} bytes is too large.", nameof(body));
        }

        var headLength = StartResponse(status, (int)body.Length);
        if (body.Length <= CoalesceBytes - FrameHeader.Size)
        {
            body.CopyTo(sendBuffer.AsSpan(headLength));
            await stream.WriteAsync(sendBuffer.AsMemory(0, headLength + (int)body.Length), cancellationToken);
            return;
        }

        await stream.WriteAsync(sendBuffer.AsMemory(0, headLength), cancellationToken);
        foreach (var segment in body)
        {
            await stream.WriteAsync(segment, cancellationToken);
        }
    }

    /// <summary>
    /// Answers with a body gathered from <paramref name="segments"/> (written back to back) whose bytes stay valid only
    /// for <paramref name="validFor"/> from now, such as arena extents under a lease. A send still running when that
    /// time is up is cancelled and the connection is closed (an <see cref="IOException"/>), so the socket never reads
    /// bytes that may have been reused, and the peer sees a failed request instead of a complete answer.
    /// </summary>
    /// <exception cref="IOException">The send did not finish in time; the caller must let the connection close.</exception>
    public async ValueTask SendGatheredAsync(FrameStatus status, ReadOnlyMemory<ReadOnlyMemory<byte>> segments, TimeSpan validFor,
        CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var segment in segments.Span)
        {
            total += segment.Length;
        }

        if (total > int.MaxValue)
        {
            throw new ArgumentException($"Response body of {total} bytes is too large.", nameof(segments));
        }

        if (validFor <= TimeSpan.Zero)
        {
            throw new IOException($"The bytes of the {request.Opcode} answer to request {request.RequestId} were no longer valid when it was sent.");
        }

        var started = Stopwatch.GetTimestamp();
        var headLength = StartResponse(status, (int)total);
        var first = 0;
        if (segments.Length > 0 && segments.Span[0].Length <= CoalesceBytes - FrameHeader.Size)
        {
            segments.Span[0].Span.CopyTo(sendBuffer.AsSpan(headLength));
            headLength += segments.Span[0].Length;
            first = 1;
        }

        var guard = sendGuard ??= new CancellationTokenSource();
        guard.CancelAfter(validFor);
        using var stopping = cancellationToken.UnsafeRegister(static state => ((CancellationTokenSource)state!).Cancel(), guard);
        try
        {
            if (socket is not null)
            {
                await SendGatheredAsync(socket, sendBuffer.AsMemory(0, headLength), segments[first..], guard.Token);
            }
            else
            {
                await stream.WriteAsync(sendBuffer.AsMemory(0, headLength), guard.Token);
                for (var i = first; i < segments.Length; i++)
                {
                    await stream.WriteAsync(segments.Span[i], guard.Token);
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"Sending the {request.Opcode} answer to request {request.RequestId} took longer than the {validFor.TotalMilliseconds:F0} ms its bytes were valid for; closing the connection.");
        }
        finally
        {
            if (!guard.TryReset())
            {
                guard.Dispose();
                sendGuard = null;
            }
        }

        // The timer may fire late: the clock decides whether every byte left while it was still valid.
        if (Stopwatch.GetElapsedTime(started) >= validFor)
        {
            throw new IOException($"The {request.Opcode} answer to request {request.RequestId} finished after its bytes stopped being valid; closing the connection.");
        }
    }

    /// <summary>Sends the head and the segments with as few system calls as the socket allows: one gathered send for
    /// as much as its buffer takes, and when it is full, an ordinary write of the next segment (which waits for room)
    /// before the next gathered send.</summary>
    private async ValueTask SendGatheredAsync(Socket socket, ReadOnlyMemory<byte> head, ReadOnlyMemory<ReadOnlyMemory<byte>> segments,
        CancellationToken cancellationToken)
    {
        var all = ArrayPool<ReadOnlyMemory<byte>>.Shared.Rent(segments.Length + 1);
        try
        {
            all[0] = head;
            segments.CopyTo(all.AsMemory(1));
            var next = 0;
            var count = segments.Length + 1;
            while (next < count)
            {
                var sent = GatheredSend.SendAvailable(socket, all.AsSpan(next, count - next));
                while (next < count && sent >= all[next].Length)
                {
                    sent -= all[next++].Length;
                }

                if (next < count)
                {
                    // The socket's buffer is full: wait for room by writing the rest of this segment the ordinary way.
                    await stream.WriteAsync(all[next][(int)sent..], cancellationToken);
                    next++;
                }
            }
        }
        finally
        {
            ArrayPool<ReadOnlyMemory<byte>>.Shared.Return(all, clearArray: true);
        }
    }

    /// <summary>Marks the request answered and writes the header into the send buffer; returns its length.</summary>
    private int StartResponse(FrameStatus status, int bodyLength)
    {
        if (HasResponded)
        {
            throw new InvalidOperationException($"Request {request.RequestId} was already answered.");
        }

        HasResponded = true;
        Status = status;
        BodyBytes = bodyLength;
        new FrameHeader(request.Opcode, FrameFlags.Response, status, request.RequestId, bodyLength).WriteTo(sendBuffer);
        return FrameHeader.Size;
    }
}
