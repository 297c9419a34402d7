using KvTier.Transport;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Hosting;

/// <summary>A data-plane handler that answers Ping and refuses every other opcode: what the daemon serves where the
/// block-store handler is not wired in, and what host tests use to check the listener without the data path.</summary>
public sealed class PingOnlyFrameHandler : IDrainableFrameHandler
{
    /// <summary>Whether <see cref="StopAcceptingWrites"/> was called.</summary>
    public bool Draining { get; private set; }

    /// <inheritdoc/>
    public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(responder);
        var status = request.Header.Opcode == Opcode.Ping ? FrameStatus.Ok : FrameStatus.BadRequest;
        return responder.SendAsync(status, ReadOnlyMemory<byte>.Empty, cancellationToken);
    }

    /// <inheritdoc/>
    public void StopAcceptingWrites() => Draining = true;
}
