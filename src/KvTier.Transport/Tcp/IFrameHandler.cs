namespace KvTier.Transport.Tcp;

/// <summary>Serves requests of one connection, one at a time and in order (so a client can pipeline a write and
/// the commit that depends on it). Must answer every request exactly once through the responder.</summary>
public interface IFrameHandler
{
    /// <summary>Handles one request. An exception is answered with <see cref="FrameStatus.InternalError"/>
    /// (or <see cref="FrameStatus.BadRequest"/> for a <see cref="ProtocolViolationException"/>) and the
    /// connection keeps serving.</summary>
    ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken);
}
