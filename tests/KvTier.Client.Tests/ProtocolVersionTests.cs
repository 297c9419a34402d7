using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Transport;

namespace KvTier.Client.Tests;

/// <summary>A client stores with PutBlocks (protocol version 3) only where the node said it speaks it, and through
/// ReserveBlocks, WriteExtents and CommitBlocks to a version-2 node.</summary>
public sealed class ProtocolVersionTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_store_to_a_version_3_node_is_one_PutBlocks_round_trip()
    {
        var ns = TestCluster.Namespace("none");
        await using var node = await TestNode.StartAsync(new InProcessBlockDirectory(), 1, [ns]);
        await using var proxy = VersionTwoProxy.Start(node.Server.LocalEndPoint, pretendVersionTwo: false);
        await using var directory = await DirectoryWithAsync(proxy);
        await using var client = new KvTierClient(directory, new KvTierClientOptions { RequestTimeout = TimeSpan.FromSeconds(10) }, ConsoleTestLogger.Instance);
        var chain = TestCluster.Chain(6, seed: 41);
        var source = TestCluster.RandomBlocks(ns, 6, seed: 42);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(new StoreResult(6, 0, 0), stored);
        Assert.Equal(source, destination);
        Assert.Equal(6, loaded.LoadedBlocks);
        Assert.Equal(1, proxy.Requests(Opcode.PutBlocks));
        Assert.Equal(0, proxy.Requests(Opcode.ReserveBlocks));
    }

    [Fact]
    public async Task A_store_to_a_version_2_node_goes_through_the_two_phase_verbs_and_loads_back()
    {
        var ns = TestCluster.Namespace("lz4");
        await using var node = await TestNode.StartAsync(new InProcessBlockDirectory(), 1, [ns]);
        await using var proxy = VersionTwoProxy.Start(node.Server.LocalEndPoint, pretendVersionTwo: true);
        await using var directory = await DirectoryWithAsync(proxy);
        await using var client = new KvTierClient(directory, new KvTierClientOptions { RequestTimeout = TimeSpan.FromSeconds(10) }, ConsoleTestLogger.Instance);
        var chain = TestCluster.Chain(6, seed: 43);
        var source = TestCluster.RandomBlocks(ns, 6, seed: 44);

        var stored = await client.StoreAsync(ns, chain, 0, source, Token);
        var again = await client.StoreAsync(ns, chain, 0, source, Token);
        var destination = new byte[source.Length];
        var loaded = await client.LoadAsync(ns, await client.LookupAsync(ns, chain, Token), destination, null, Token);

        Assert.Equal(new StoreResult(6, 0, 0), stored);
        Assert.Equal(new StoreResult(0, 6, 0), again);
        Assert.Equal(source, destination);
        Assert.Equal(6, loaded.LoadedBlocks);
        Assert.Equal(0, proxy.Requests(Opcode.PutBlocks));
        Assert.Equal(1, proxy.Requests(Opcode.ReserveBlocks));
        Assert.Equal(1, proxy.Requests(Opcode.CommitBlocks));
        Assert.Equal(0, proxy.RefusedFrames);
    }

    private static async Task<InProcessBlockDirectory> DirectoryWithAsync(VersionTwoProxy proxy)
    {
        var directory = new InProcessBlockDirectory();
        await directory.RegisterNodeAsync(new NodeInfo(new NodeId(7), 1, proxy.EndPoint.ToString(), "127.0.0.1:1", false, 32L << 20, 32L << 20),
            TimeSpan.FromMinutes(5));
        return directory;
    }

    /// <summary>Stands between clients and a real node. With <c>pretendVersionTwo</c> it behaves as a node of protocol
    /// version 2 does: its Authenticate answer names no version, and a frame of a newer version closes the connection.
    /// Counts the requests it passes on by opcode.</summary>
    private sealed class VersionTwoProxy : IAsyncDisposable
    {
        private readonly Socket listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly EndPoint node;
        private readonly bool pretendVersionTwo;
        private readonly ConcurrentDictionary<Opcode, int> requests = new();
        private readonly CancellationTokenSource stopping = new();
        private readonly Task accepting;
        private int refused;

        private VersionTwoProxy(EndPoint node, bool pretendVersionTwo)
        {
            this.node = node;
            this.pretendVersionTwo = pretendVersionTwo;
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen();
            EndPoint = (IPEndPoint)listener.LocalEndPoint!;
            accepting = Task.Run(AcceptAsync);
        }

        public IPEndPoint EndPoint { get; }

        public int RefusedFrames => Volatile.Read(ref refused);

        public static VersionTwoProxy Start(EndPoint node, bool pretendVersionTwo) => new(node, pretendVersionTwo);

        public int Requests(Opcode opcode) => requests.GetValueOrDefault(opcode);

        public async ValueTask DisposeAsync()
        {
            await stopping.CancelAsync();
            listener.Dispose();
            await accepting;
            stopping.Dispose();
        }

        private async Task AcceptAsync()
        {
            var pumps = new List<Task>();
            try
            {
                while (true)
                {
                    var client = await listener.AcceptAsync(stopping.Token);
                    var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await upstream.ConnectAsync(node, stopping.Token);
                    var fromClient = new NetworkStream(client, ownsSocket: true);
                    var toNode = new NetworkStream(upstream, ownsSocket: true);
                    pumps.Add(PumpAsync(fromClient, toNode, requests: true));
                    pumps.Add(PumpAsync(toNode, fromClient, requests: false));
                }
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // Stopped.
            }

            await Task.WhenAll(pumps);
        }

        private async Task PumpAsync(NetworkStream from, NetworkStream to, bool requests)
        {
            var header = new byte[FrameHeader.Size];
            try
            {
                while (true)
                {
                    await from.ReadExactlyAsync(header, stopping.Token);
                    var opcode = (Opcode)header[3];
                    var length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(16));
                    var body = new byte[length];
                    await from.ReadExactlyAsync(body, stopping.Token);
                    if (requests && pretendVersionTwo && header[2] > 2)
                    {
                        Interlocked.Increment(ref refused);
                        break; // "Unsupported protocol version": a version-2 node closes the connection
                    }

                    if (requests)
                    {
                        this.requests.AddOrUpdate(opcode, 1, (_, count) => count + 1);
                    }
                    else if (pretendVersionTwo && opcode == Opcode.Authenticate)
                    {
                        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(16), 0);
                        body = [];
                    }

                    await to.WriteAsync(header, stopping.Token);
                    await to.WriteAsync(body, stopping.Token);
                }
            }
            catch (Exception error) when (error is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // One side closed.
            }
            finally
            {
                await from.DisposeAsync();
                await to.DisposeAsync();
            }
        }
    }
}
