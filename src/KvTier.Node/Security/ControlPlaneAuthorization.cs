using Grpc.Core;
using Grpc.Core.Interceptors;
using KvTier.Transport.ControlPlane;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Security;

/// <summary>
/// Checks the <c>authorization: Bearer TOKEN</c> metadata of every control-plane call when authentication is on: no
/// or an unknown token is <see cref="StatusCode.Unauthenticated"/>; the methods in <see cref="TenantMethods"/> need any
/// valid token, every other method (Drain, RegisterNamespace, DropNamespace, and any method added later until it is
/// listed) needs an admin token, else <see cref="StatusCode.PermissionDenied"/>.
/// </summary>
internal sealed class ControlPlaneAuthorization(TenantTokens tokens, ILogger logger) : Interceptor
{
    /// <summary>Methods any tenant may call: reads, and the RDMA negotiation a data client needs.</summary>
    public static readonly IReadOnlySet<string> TenantMethods = new HashSet<string>(StringComparer.Ordinal)
    {
        Method("GetNodeInfo"), Method("GetStats"), Method("ListNamespaces"), Method("ConnectRdma"),
    };

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        Authorize(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        Authorize(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            logger.LogWarning("Refused control-plane call {Method} from {Peer}: no bearer token", context.Method, context.Peer);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "This node requires 'authorization: Bearer TOKEN' metadata."));
        }

        var grant = tokens.Find(header["Bearer ".Length..].Trim());
        if (grant is null)
        {
            logger.LogWarning("Refused control-plane call {Method} from {Peer}: unknown bearer token", context.Method, context.Peer);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The bearer token is not valid on this node."));
        }

        if (!grant.Admin && !TenantMethods.Contains(context.Method))
        {
            logger.LogWarning("Refused control-plane call {Method} to tenant {Tenant}: it needs an admin token", context.Method, grant.Tenant);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"{context.Method} needs an admin token; tenant '{grant.Tenant}' is not admin."));
        }
    }

    private static string Method(string name) => $"/{NodeControl.Descriptor.FullName}/{name}";
}
