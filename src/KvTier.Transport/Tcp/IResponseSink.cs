namespace KvTier.Transport.Tcp;

/// <summary>Consumes a response body straight from the connection, so bulk bytes land in their final buffers
/// (for example a caller's destination for a block's chunks) without an intermediate copy. Must read exactly
/// <c>header.BodyLength</c> bytes.</summary>
public interface IResponseSink
{
    /// <summary>Reads the body of <paramref name="header"/> from <paramref name="stream"/>.</summary>
    ValueTask ReceiveAsync(FrameHeader header, Stream stream, CancellationToken cancellationToken);
}
