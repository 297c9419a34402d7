using System.Net;
using System.Security.Authentication;

namespace KvTier.Transport.Tcp;

/// <summary>What a server knows about one data-plane connection, shared by every request on it: who the peer is,
/// whether the connection is encrypted, and the principal its <see cref="Opcode.Authenticate"/> frame established
/// (what the node's <see cref="IFrameAuthenticator"/> returned; null while unauthenticated or without authentication).</summary>
public sealed class FrameConnectionContext
{
    internal FrameConnectionContext(EndPoint? remoteEndPoint) => RemoteEndPoint = remoteEndPoint;

    /// <summary>The peer's address.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The negotiated TLS version, or <see cref="SslProtocols.None"/> on a plain-text connection.</summary>
    public SslProtocols TlsProtocol { get; internal set; }

    /// <summary>The authenticated principal (opaque to the transport; the node's tenant grant).</summary>
    public object? Principal { get; internal set; }

    /// <summary>Whether the connection completed its <see cref="Opcode.Authenticate"/> frame.</summary>
    public bool IsAuthenticated { get; internal set; }

    /// <summary>Frames received so far.</summary>
    public long FramesReceived { get; internal set; }
}
