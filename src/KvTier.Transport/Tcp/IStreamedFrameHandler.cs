namespace KvTier.Transport.Tcp;

/// <summary>
/// A handler that takes the bodies of some opcodes straight from the connection instead of from a buffer the
/// listener filled first, so bulk bytes land in their final place (a node's arena) without an intermediate copy.
/// The listener still enforces every frame limit (the body length was checked against
/// <see cref="FrameLimits.MaxBodyBytes"/> before the handler runs), reads no more than the frame's body for it, and
/// discards what the handler leaves unread; backpressure is the handler's own pace of reading.
/// </summary>
/// <remarks>A <see cref="ProtocolViolationException"/> from the handler is answered <see cref="FrameStatus.BadRequest"/>
/// after the rest of the body is discarded, and the connection keeps serving; a connection that fails mid-body (or a
/// body read that outlives its deadline, see <see cref="StreamedBody.SetDeadline"/>) closes that connection only.</remarks>
public interface IStreamedFrameHandler : IFrameHandler
{
    /// <summary>Whether requests of <paramref name="opcode"/> go to <see cref="HandleStreamedAsync"/>. Called for
    /// authenticated requests only; must not depend on anything but the opcode.</summary>
    bool StreamsBody(Opcode opcode);

    /// <summary>Handles one request whose body is read from <paramref name="body"/>. Answers it exactly once through
    /// the responder, like <see cref="IFrameHandler.HandleAsync"/>.</summary>
    ValueTask HandleStreamedAsync(FrameHeader header, FrameConnectionContext? connection, StreamedBody body, FrameResponder responder,
        CancellationToken cancellationToken);
}
