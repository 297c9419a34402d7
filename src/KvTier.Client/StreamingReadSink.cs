using System.Buffers;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;

namespace KvTier.Client;

/// <summary>
/// Receives a ReadExtents response chunk by chunk: each chunk's bytes land in a pooled staging buffer and are handed
/// to <see cref="IChunkReceiver"/> (which verifies and decodes them into the caller's buffer) as soon as they
/// arrive, so the first layers are usable while later ones are still on the wire.
/// </summary>
internal sealed class StreamingReadSink(ExtentIo[] items, int count, IChunkReceiver receiver) : IResponseSink
{
    public async ValueTask ReceiveAsync(FrameHeader header, Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var remaining = header.BodyLength;
        if (header.Status != FrameStatus.Ok)
        {
            await SkipAsync(stream, remaining, cancellationToken);
            return;
        }

        var headLength = StatusBatch.MeasureBody(count);
        var largest = 0;
        for (var i = 0; i < count; i++)
        {
            largest = Math.Max(largest, items[i].Length);
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(headLength, largest));
        var statuses = ArrayPool<FrameStatus>.Shared.Rent(Math.Max(1, count));
        try
        {
            if (remaining < headLength)
            {
                throw new ProtocolViolationException($"ReadExtents response of {remaining} bytes is shorter than its {headLength}-byte status list.");
            }

            await stream.ReadExactlyAsync(buffer.AsMemory(0, headLength), cancellationToken);
            remaining -= headLength;
            ParseStatuses(buffer.AsSpan(0, headLength), statuses.AsSpan(0, count));
            for (var i = 0; i < count; i++)
            {
                if (statuses[i] != FrameStatus.Ok)
                {
                    receiver.Failed(i, statuses[i]);
                    continue;
                }

                var length = items[i].Length;
                if (length > remaining)
                {
                    throw new ProtocolViolationException($"ReadExtents response ends inside extent {i}.");
                }

                await stream.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken);
                remaining -= length;
                receiver.Received(i, buffer.AsSpan(0, length));
            }

            if (remaining != 0)
            {
                throw new ProtocolViolationException($"ReadExtents response has {remaining} unexpected trailing bytes.");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<FrameStatus>.Shared.Return(statuses);
        }
    }

    private void ParseStatuses(ReadOnlySpan<byte> head, Span<FrameStatus> statuses)
    {
        var reader = new BodyReader(head);
        StatusBatch.Read(ref reader, count, statuses);
    }

    private static async ValueTask SkipAsync(Stream stream, int length, CancellationToken cancellationToken)
    {
        var scratch = ArrayPool<byte>.Shared.Rent(Math.Clamp(length, 1, 1 << 16));
        try
        {
            while (length > 0)
            {
                var part = Math.Min(length, scratch.Length);
                await stream.ReadExactlyAsync(scratch.AsMemory(0, part), cancellationToken);
                length -= part;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }
}

/// <summary>Takes the chunks of a ReadExtents response as they arrive.</summary>
internal interface IChunkReceiver
{
    /// <summary>Item <paramref name="index"/>'s bytes (valid only during the call).</summary>
    void Received(int index, ReadOnlySpan<byte> bytes);

    /// <summary>The node did not serve item <paramref name="index"/>.</summary>
    void Failed(int index, FrameStatus status);
}
