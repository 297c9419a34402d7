using System.Net;
using KvTier.Node.ControlPlane;
using KvTier.Node.Hosting;
using KvTier.Node.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Http;

/// <summary>
/// The node's Kestrel server with two endpoints: the gRPC control plane (HTTP/2 only, so plain-text h2c works
/// without TLS negotiation; HTTPS with the node's certificate and client policy when TLS is on, and bearer tokens
/// checked by <see cref="ControlPlaneAuthorization"/> when authentication is on) and metrics/health (HTTP/1.1, what
/// Prometheus and kubelet probes speak; HTTPS only with <c>Tls:Metrics</c>).
/// </summary>
internal static class NodeWebHost
{
    public static WebApplication Build(NodeHost node)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(node.LoggerFactory);
        builder.Services.AddSingleton(node);
        builder.Services.AddGrpc(grpc =>
        {
            grpc.EnableDetailedErrors = false;
            if (node.Tokens is not null)
            {
                grpc.Interceptors.Add<ControlPlaneAuthorization>(node.Tokens, node.LoggerFactory.CreateLogger("KvTier.Node.ControlPlane.Auth"));
            }
        });
        var options = node.Options;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(options.ControlPlane.Host), options.ControlPlane.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (node.Tls is { } tls)
                {
                    listen.UseHttps(https => tls.Configure(https, clientCertificates: true));
                }
            });
            kestrel.Listen(IPAddress.Parse(options.Http.Host), options.Http.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (node.Tls is { } tls && options.Tls.Metrics)
                {
                    listen.UseHttps(https => tls.Configure(https, clientCertificates: false));
                }
            });
        });

        var app = builder.Build();
        app.MapGrpcService<NodeControlService>();
        app.MapGet("/metrics", () => Results.Text(node.Metrics.Render(), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapGet("/healthz", () => Results.Text("alive\n"));
        app.MapGet("/readyz", () => Readiness(node));
        return app;
    }

    /// <summary>The control-plane and metrics endpoints as bound (ports resolved when configured as 0), in the order
    /// they were configured.</summary>
    public static (IPEndPoint ControlPlane, IPEndPoint Http) BoundEndPoints(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
            .Select(address => new Uri(address)).ToList();
        if (addresses.Count != 2)
        {
            throw new InvalidOperationException($"Expected two bound endpoints, got: {string.Join(", ", addresses)}.");
        }

        return (ToEndPoint(addresses[0]), ToEndPoint(addresses[1]));
    }

    private static IPEndPoint ToEndPoint(Uri address) =>
        new(IPAddress.TryParse(address.Host.Trim('[', ']'), out var ip) ? ip : IPAddress.Loopback, address.Port);

    private static IResult Readiness(NodeHost node) => node.State switch
    {
        NodeLifecycle.Serving when node.DirectoryReachable => Results.Text("ready\n"),
        NodeLifecycle.Serving => Results.Text("not ready: directory unreachable\n", statusCode: StatusCodes.Status503ServiceUnavailable),
        var state => Results.Text($"not ready: {state.ToString().ToLowerInvariant()}\n", statusCode: StatusCodes.Status503ServiceUnavailable),
    };
}
