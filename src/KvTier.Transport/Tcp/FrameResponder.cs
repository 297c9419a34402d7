using System.Buffers;

namespace KvTier.Transport.Tcp;

/// <summary>Sends the one response to a request: the header, then the body as one or more segments, so bulk
/// bytes (arena extents) go to the socket without being copied into a frame buffer first.</summary>
public sealed class FrameResponder
{
    private readonly Stream stream;
    private readonly byte[] headerBuffer = new byte[FrameHeader.Size];
    private FrameHeader request;

    internal FrameResponder(Stream stream) => this.stream = stream;

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
        if (HasResponded)
        {
            throw new InvalidOperationException($"Request {request.RequestId} was already answered.");
        }

        if (body.Length > int.MaxValue)
        {
            throw new ArgumentException($"Response body of {body.Length} bytes is too large.", nameof(body));
        }

        HasResponded = true;
        Status = status;
        BodyBytes = body.Length;
        new FrameHeader(request.Opcode, FrameFlags.Response, status, request.RequestId, (int)body.Length).WriteTo(headerBuffer);
        await stream.WriteAsync(headerBuffer, cancellationToken);
        foreach (var segment in body)
        {
            await stream.WriteAsync(segment, cancellationToken);
        }
    }
}
