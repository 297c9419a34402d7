using System.Buffers;

namespace KvTier.Transport.Tcp;

/// <summary>The default sink: reads the body into a pooled buffer. Dispose it to return the buffer.</summary>
public sealed class BufferedResponseSink : IResponseSink, IDisposable
{
    private byte[]? buffer;

    /// <summary>The response header, once received.</summary>
    public FrameHeader Header { get; private set; }

    /// <summary>The response body, once received; valid until disposal.</summary>
    public ReadOnlyMemory<byte> Body { get; private set; }

    /// <inheritdoc/>
    public async ValueTask ReceiveAsync(FrameHeader header, Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Header = header;
        buffer = ArrayPool<byte>.Shared.Rent(header.BodyLength);
        await stream.ReadExactlyAsync(buffer.AsMemory(0, header.BodyLength), cancellationToken);
        Body = buffer.AsMemory(0, header.BodyLength);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
            Body = default;
        }
    }
}
