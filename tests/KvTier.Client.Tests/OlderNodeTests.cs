using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using KvTier.Transport;

namespace KvTier.Client.Tests;

/// <summary>A client of protocol version 3 still loads from nodes of version 2, which know ReadBlocks but not
/// ReadBlocksSplit: the node's answer to Authenticate tells the client which verbs it may use.</summary>
public sealed class OlderNodeTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("none", 16)] // 2 KiB chunks, several per staging read
    [InlineData("none", 128)] // 512 KiB chunks
    [InlineData("lz4", 16)]
    public async Task Loads_from_a_version_2_node_use_ReadBlocks_and_arrive_intact(string codec, int tokensPerBlock)
    {
        var ns = new Core.KvNamespace("older", "main", new Core.Layout.KvLayout(2, 8, 128, Core.Layout.KvDataType.BFloat16, tokensPerBlock), "tests",
            Core.Hashing.BlockHashAlgorithm.Xxh3, codec, 1000);
        await using var cluster = await TestCluster.StartAsync(1, null, ns);
        var chain = TestCluster.Chain(6, seed: 41);
        var source = TestCluster.RandomBlocks(ns, 6, seed: 42);
        await using (var writer = cluster.Client())
        {
            await writer.StoreAsync(ns, chain, 0, source, Token);
        }

        await using var front = Version2Front.Start(cluster.Nodes[0].Server.LocalEndPoint);
        var node = cluster.Nodes[0].Info;
        await cluster.Directory.RegisterNodeAsync(node with { DataPlaneAddress = front.EndPoint.ToString()! }, TimeSpan.FromMinutes(5), Token);
        await using var client = cluster.Client();

        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(6, loaded.LoadedBlocks);
        Assert.Equal(source, destination);
        Assert.Contains(Opcode.ReadBlocks, front.Forwarded);
        Assert.DoesNotContain(Opcode.ReadBlocksSplit, front.Forwarded);
        Assert.Equal(0, front.Refused);
    }

    [Fact]
    public async Task A_version_2_node_closes_a_connection_that_sends_ReadBlocksSplit_which_is_why_the_client_asks_first()
    {
        await using var cluster = await TestCluster.StartAsync(1, null, TestCluster.Namespace("none"));
        await using var front = Version2Front.Start(cluster.Nodes[0].Server.LocalEndPoint);
        await using var connection = await Transport.Tcp.FrameConnection.ConnectAsync(front.EndPoint,
            new Transport.Tcp.FrameConnectionOptions(), Token);
        Assert.Equal(2, connection.PeerVersion);

        using var sink = new Transport.Tcp.BufferedResponseSink();
        await Assert.ThrowsAnyAsync<IOException>(async () =>
            await connection.SendAsync(Opcode.ReadBlocksSplit, new byte[24], sink, Token));
        Assert.Equal(1, front.Refused);
    }

    /// <summary>
    /// A node of protocol version 2 in front of a real one: it answers Authenticate as version-2 nodes do (Ok with an
    /// empty body), closes a connection whose frame carries a newer version (as a version-2 node's header check does),
    /// and forwards every other frame to the real node, whose answers go back byte for byte.
    /// </summary>
    private sealed class Version2Front : IAsyncDisposable
    {
        private readonly Socket listener;
        private readonly EndPoint node;
        private readonly Task accepting;
        private readonly ConcurrentBag<Task> connections = [];
        private readonly CancellationTokenSource stopping = new();
        private int refused;

        private Version2Front(Socket listener, EndPoint node)
        {
            this.listener = listener;
            this.node = node;
            accepting = Task.Run(AcceptAsync);
        }

        public EndPoint EndPoint => listener.LocalEndPoint!;

        public ConcurrentBag<Opcode> Forwarded { get; } = [];

        public int Refused => Volatile.Read(ref refused);

        public static Version2Front Start(EndPoint node)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(16);
            return new Version2Front(listener, node);
        }

        public async ValueTask DisposeAsync()
        {
            await stopping.CancelAsync();
            listener.Dispose();
            await accepting;
            await Task.WhenAll(connections);
            stopping.Dispose();
        }

        private async Task AcceptAsync()
        {
            while (!stopping.IsCancellationRequested)
            {
                Socket client;
                try
                {
                    client = await listener.AcceptAsync(stopping.Token);
                }
                catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                connections.Add(Task.Run(() => ServeAsync(client)));
            }
        }

        private async Task ServeAsync(Socket client)
        {
            using var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await using var down = new NetworkStream(client, ownsSocket: true);
            try
            {
                await upstream.ConnectAsync(node, stopping.Token);
                await using var up = new NetworkStream(upstream, ownsSocket: false);
                var answers = up.CopyToAsync(down, stopping.Token);
                var header = new byte[FrameHeader.Size];
                while (await down.ReadAtLeastAsync(header, header.Length, throwOnEndOfStream: false, stopping.Token) == header.Length)
                {
                    if (header[2] > 2)
                    {
                        Interlocked.Increment(ref refused);
                        return; // "Unsupported protocol version": the connection closes
                    }

                    var body = new byte[BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16))];
                    await down.ReadExactlyAsync(body, stopping.Token);
                    var opcode = (Opcode)header[3];
                    if (opcode == Opcode.Authenticate)
                    {
                        // The first frame: nothing was forwarded yet, so this answer cannot interleave with the node's.
                        var answer = new byte[FrameHeader.Size];
                        new FrameHeader(opcode, FrameFlags.Response, FrameStatus.Ok, BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8)), 0)
                            .WriteTo(answer);
                        await down.WriteAsync(answer, stopping.Token);
                        continue;
                    }

                    Forwarded.Add(opcode);
                    await up.WriteAsync(header, stopping.Token);
                    await up.WriteAsync(body, stopping.Token);
                }

                upstream.Shutdown(SocketShutdown.Send);
                await answers;
            }
            catch (Exception error) when (error is IOException or SocketException or OperationCanceledException)
            {
                // The test ended or a side closed.
            }
        }
    }
}
