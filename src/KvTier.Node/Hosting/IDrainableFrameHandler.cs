using KvTier.Transport.Tcp;

namespace KvTier.Node.Hosting;

/// <summary>A data-plane handler that can be told to refuse new writes while reads continue (the first step of a
/// drain). Handlers that do not implement it keep accepting writes until the listener closes.</summary>
public interface IDrainableFrameHandler : IFrameHandler
{
    /// <summary>From now on, answer reservations and writes with a refusal; keep serving reads.</summary>
    void StopAcceptingWrites();
}
