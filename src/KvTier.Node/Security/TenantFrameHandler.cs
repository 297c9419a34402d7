using System.Buffers;
using System.Collections.Concurrent;
using KvTier.Node.Hosting;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Security;

/// <summary>
/// Sits in front of the data-plane handler when authentication is on, and enforces what a tenant's token allows:
/// <list type="bullet">
/// <item>a request whose opcode carries a namespace (<see cref="NamespaceScopedOpcodes"/>, the one place to classify
/// a new opcode) for a namespace the tenant may not use is answered <see cref="FrameStatus.Unauthorized"/>; the
/// connection and its other requests are unaffected; an opcode classified in neither list is refused;</item>
/// <item>each tenant is served by its own handler instance, made by the node's handler factory on first use, so its
/// lease and reservation ids live in its own tables: an id handed to tenant A is unknown (Expired) to tenant B.</item>
/// </list>
/// </summary>
internal sealed class TenantFrameHandler(Func<IFrameHandler> createHandler, ILogger logger) : IDrainableFrameHandler, IStreamedFrameHandler
{
    private readonly ConcurrentDictionary<string, IFrameHandler> handlers = new(StringComparer.Ordinal);
    private volatile bool draining;

    public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(responder);
        if (request.Connection?.Principal is not TenantGrant grant)
        {
            // The listener authenticates every connection before it reaches a handler; this is a request built elsewhere.
            return responder.SendAsync(FrameStatus.Unauthorized, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }

        var opcode = request.Header.Opcode;
        if (!NamespaceScopedOpcodes.CarriesNamespace(opcode) && !NamespaceScopedOpcodes.CarriesNoNamespace(opcode))
        {
            // Fail closed: an opcode nobody classified might name a namespace this check would not see.
            logger.LogError("Refused {Opcode}: the opcode is not classified in NamespaceScopedOpcodes, so its namespace cannot be authorized", opcode);
            return responder.SendAsync(FrameStatus.Unauthorized, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }

        if (NamespaceScopedOpcodes.TryRead(opcode, request.Body.Span, out var kvNamespace) && !grant.MayUse(kvNamespace))
        {
            logger.LogWarning("Refused {Opcode} for namespace {Namespace} to tenant {Tenant} from {Peer}: not among its namespaces",
                request.Header.Opcode, kvNamespace, grant.Tenant, request.Connection.RemoteEndPoint);
            return responder.SendAsync(FrameStatus.Unauthorized, ReadOnlyMemory<byte>.Empty, cancellationToken);
        }

        return handlers.GetOrAdd(grant.Tenant, static (_, self) => self.Create(), this).HandleAsync(request, responder, cancellationToken);
    }

    /// <summary>PutBlocks bodies are streamed: the namespace is read from the body's first bytes before any of the
    /// payload, and a tenant's handler that does not stream gets the body buffered.</summary>
    public bool StreamsBody(Opcode opcode) => opcode == Opcode.PutBlocks;

    public async ValueTask HandleStreamedAsync(FrameHeader header, FrameConnectionContext? connection, StreamedBody body, FrameResponder responder,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(responder);
        if (connection?.Principal is not TenantGrant grant)
        {
            await responder.SendAsync(FrameStatus.Unauthorized, ReadOnlyMemory<byte>.Empty, cancellationToken);
            return;
        }

        var head = await body.PeekAsync(Math.Min(sizeof(ulong), body.Length), cancellationToken);
        if (NamespaceScopedOpcodes.TryRead(header.Opcode, head.Span, out var kvNamespace) && !grant.MayUse(kvNamespace))
        {
            logger.LogWarning("Refused {Opcode} for namespace {Namespace} to tenant {Tenant} from {Peer}: not among its namespaces",
                header.Opcode, kvNamespace, grant.Tenant, connection.RemoteEndPoint);
            await body.SkipAsync(body.Remaining, cancellationToken);
            await responder.SendAsync(FrameStatus.Unauthorized, ReadOnlyMemory<byte>.Empty, cancellationToken);
            return;
        }

        var handler = handlers.GetOrAdd(grant.Tenant, static (_, self) => self.Create(), this);
        if (handler is IStreamedFrameHandler streamed && streamed.StreamsBody(header.Opcode))
        {
            await streamed.HandleStreamedAsync(header, connection, body, responder, cancellationToken);
            return;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(body.Remaining);
        try
        {
            var length = body.Remaining;
            await body.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken);
            await handler.HandleAsync(new FrameRequest(header, buffer.AsMemory(0, length)) { Connection = connection }, responder, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void StopAcceptingWrites()
    {
        draining = true;
        foreach (var handler in handlers.Values)
        {
            (handler as IDrainableFrameHandler)?.StopAcceptingWrites();
        }
    }

    private IFrameHandler Create()
    {
        var handler = createHandler();
        if (draining)
        {
            (handler as IDrainableFrameHandler)?.StopAcceptingWrites();
        }

        return handler;
    }
}
