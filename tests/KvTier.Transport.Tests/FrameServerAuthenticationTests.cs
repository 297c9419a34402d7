using System.Net;
using System.Security.Authentication;
using System.Text;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Transport.Tests;

/// <summary>The listener's Authenticate handshake and its request observer, in process on loopback.</summary>
public sealed class FrameServerAuthenticationTests : IAsyncLifetime
{
    private readonly RecordingObserver observer = new();
    private readonly Guid instance = Guid.NewGuid();
    private FrameServer server = null!;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), new PrincipalEchoHandler(),
            new FrameServerOptions { Authenticator = new OneTokenAuthenticator(), Observer = observer, Instance = instance }, NullLogger.Instance);
        server.Start();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await server.DisposeAsync();

    [Fact]
    public async Task Handlers_see_the_principal_the_connection_authenticated_as()
    {
        await using var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "open-sesame" }, Token);
        using var sink = new BufferedResponseSink();

        var header = await connection.SendAsync(Opcode.Ping, ReadOnlyMemory<byte>.Empty, sink, Token);

        Assert.Equal(FrameStatus.Ok, header.Status);
        Assert.Equal("tenant-x", Encoding.UTF8.GetString(sink.Body.Span));
    }

    [Fact]
    public async Task The_answer_to_Authenticate_tells_the_client_the_nodes_protocol_version()
    {
        await using var authenticated = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "open-sesame" }, Token);
        await using var plain = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, Token);

        Assert.Equal(FrameHeader.Version, authenticated.PeerVersion);
        Assert.Equal(2, plain.PeerVersion); // never told: assumes the oldest node that authenticates
    }

    [Fact]
    public async Task The_answer_to_Authenticate_names_the_nodes_run_so_a_client_notices_a_restart()
    {
        await using var authenticated = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "open-sesame" }, Token);
        await using var plain = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, Token);

        Assert.Equal(instance, authenticated.PeerInstance);
        Assert.Null(plain.PeerInstance);
    }

    [Fact]
    public async Task A_refused_token_fails_the_connect_with_the_nodes_reason_and_is_counted()
    {
        var refused = await Assert.ThrowsAsync<AuthenticationException>(() =>
            FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "guess" }, Token));

        Assert.Contains("Unauthorized", refused.Message, StringComparison.Ordinal);
        Assert.Contains("token is not valid", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.AuthenticationFailures);
    }

    [Fact]
    public async Task A_second_Authenticate_frame_is_a_bad_request_and_the_connection_keeps_serving()
    {
        await using var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "open-sesame" }, Token);
        using var again = new BufferedResponseSink();
        using var ping = new BufferedResponseSink();

        Assert.Equal(FrameStatus.BadRequest, (await connection.SendAsync(Opcode.Authenticate, "open-sesame"u8.ToArray(), again, Token)).Status);
        Assert.Equal(FrameStatus.Ok, (await connection.SendAsync(Opcode.Ping, ReadOnlyMemory<byte>.Empty, ping, Token)).Status);
    }

    [Fact]
    public async Task The_observer_sees_each_answered_request_with_its_status_and_sizes()
    {
        await using (var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, new FrameConnectionOptions { Token = "open-sesame" }, Token))
        {
            using var sink = new BufferedResponseSink();
            await connection.SendAsync(Opcode.Ping, new byte[100], sink, Token);
        }

        await using (var anonymous = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, Token))
        {
            using var sink = new BufferedResponseSink();
            Assert.Equal(FrameStatus.Unauthorized, (await anonymous.SendAsync(Opcode.ContainsBlocks, new byte[8], sink, Token)).Status);
        }

        // The observer runs on each connection's loop just after the answer is written: let the last calls land.
        for (var wait = 0; wait < 100 && observer.Snapshot().Count < 3; wait++)
        {
            await Task.Delay(50, Token);
        }

        var seen = observer.Snapshot();
        // The Ok answer to Authenticate carries the node's protocol version (one byte) and its run id (16).
        Assert.Contains((Opcode.Authenticate, FrameStatus.Ok, FrameHeader.Size + 11L, FrameHeader.Size + 17L), seen);
        Assert.Contains((Opcode.Ping, FrameStatus.Ok, FrameHeader.Size + 100L, FrameHeader.Size + 8L), seen);
        Assert.Contains(seen, entry => entry.Opcode == Opcode.ContainsBlocks && entry.Status == FrameStatus.Unauthorized);
    }

    private sealed class OneTokenAuthenticator : IFrameAuthenticator
    {
        public object? Authenticate(ReadOnlySpan<byte> token) => token.SequenceEqual("open-sesame"u8) ? "tenant-x" : null;
    }

    private sealed class PrincipalEchoHandler : IFrameHandler
    {
        public ValueTask HandleAsync(FrameRequest request, FrameResponder responder, CancellationToken cancellationToken) =>
            responder.SendAsync(FrameStatus.Ok, Encoding.UTF8.GetBytes(request.Connection?.Principal as string ?? "none"), cancellationToken);
    }

    private sealed class RecordingObserver : IFrameRequestObserver
    {
        private readonly List<(Opcode Opcode, FrameStatus Status, long RequestBytes, long ResponseBytes)> seen = [];

        public void RequestAnswered(Opcode opcode, FrameStatus status, long requestBytes, long responseBytes, long startTimestamp)
        {
            lock (seen)
            {
                seen.Add((opcode, status, requestBytes, responseBytes));
            }
        }

        public List<(Opcode Opcode, FrameStatus Status, long RequestBytes, long ResponseBytes)> Snapshot()
        {
            lock (seen)
            {
                return [.. seen];
            }
        }
    }
}
