namespace KvTier.Transport.Tcp;

/// <summary>Sees every request a <see cref="FrameServer"/> answered, in one place (metrics). Called on the
/// connection's loop after the response was written: keep it short and allocation-free.</summary>
public interface IFrameRequestObserver
{
    /// <summary>One request was answered.</summary>
    /// <param name="opcode">The request's opcode.</param>
    /// <param name="status">The frame status of the answer.</param>
    /// <param name="requestBytes">Request bytes, header included.</param>
    /// <param name="responseBytes">Response bytes, header included.</param>
    /// <param name="startTimestamp">The <see cref="System.Diagnostics.Stopwatch"/> timestamp when the request's header
    /// had arrived.</param>
    void RequestAnswered(Opcode opcode, FrameStatus status, long requestBytes, long responseBytes, long startTimestamp);
}
