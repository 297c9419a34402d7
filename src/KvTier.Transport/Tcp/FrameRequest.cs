namespace KvTier.Transport.Tcp;

/// <summary>A request frame received by a server. <see cref="Body"/> lives in a pooled buffer that is valid only
/// until the handler's task completes.</summary>
/// <param name="Header">The validated header.</param>
/// <param name="Body">The body bytes.</param>
public readonly record struct FrameRequest(FrameHeader Header, ReadOnlyMemory<byte> Body)
{
    /// <summary>The connection the request arrived on (peer, TLS, authenticated principal); null where a request is
    /// built outside a <see cref="FrameServer"/> (tests, benchmarks).</summary>
    public FrameConnectionContext? Connection { get; init; }
}
