using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace KvTier.DataPlaneLoad;

/// <summary>
/// The baseline: a loopback socket server with no protocol beyond a 16-byte request (<c>op u32 | length u32 |
/// offset u64</c>). Download (op 0): the server answers with <c>length</c> bytes of its corpus from <c>offset</c>.
/// Upload (op 1): the client sends <c>length</c> bytes after the request, the server reads them into a fixed buffer and
/// answers 8 bytes. No parsing, no checksums, no copies beyond the kernel's. Downloads run in two ways: always from
/// offset 0 (the same bytes every time, hot in the caches: the figure the goal compares with), or from a random batch
/// of the same corpus of distinct blocks the node and redis serve (the same payloads, as cold as theirs).
/// </summary>
internal sealed class RawSocket : IAsyncDisposable
{
    private const uint Download = 0;
    private const uint Upload = 1;
    private readonly Socket listener;
    private readonly Task accepting;

    private readonly byte[] corpus;

    private RawSocket(Socket listener, byte[] corpus, int maxPayload)
    {
        this.listener = listener;
        this.corpus = corpus;
        accepting = Task.Run(() => AcceptAsync(maxPayload));
    }

    public EndPoint EndPoint => listener.LocalEndPoint!;

    /// <summary>Serves downloads from <paramref name="corpus"/> (shared, read only) and takes uploads of up to
    /// <paramref name="maxPayload"/> bytes.</summary>
    public static RawSocket Start(byte[] corpus, int maxPayload)
    {
        var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        return new RawSocket(listener, corpus, maxPayload);
    }

    /// <summary>Batched downloads (<paramref name="upload"/> false) or uploads of <paramref name="payload"/> bytes per
    /// operation; with <paramref name="batchOffsets"/>, each download starts at a random one of them (in bytes).</summary>
    public async Task<Figures> MeasureAsync(bool upload, int payload, int clients, TimeSpan duration, int[]? batchOffsets = null)
    {
        var sockets = new List<Socket>();
        try
        {
            return await Measurement.RunAsync(clients, duration, _ =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Connect(EndPoint);
                lock (sockets)
                {
                    sockets.Add(socket);
                }

                var data = new byte[payload];
                new Random(3).NextBytes(data);
                return (Socket: socket, Data: data, Request: new byte[16]);
            }, async (state, random) =>
            {
                BinaryPrimitives.WriteUInt32LittleEndian(state.Request, upload ? Upload : Download);
                BinaryPrimitives.WriteInt32LittleEndian(state.Request.AsSpan(4), payload);
                var offset = batchOffsets is null || upload ? 0 : batchOffsets[random.Next(batchOffsets.Length)];
                BinaryPrimitives.WriteInt64LittleEndian(state.Request.AsSpan(8), offset);
                await state.Socket.SendAsync(state.Request);
                if (upload)
                {
                    await SendAllAsync(state.Socket, state.Data);
                    await ReceiveAllAsync(state.Socket, state.Request.AsMemory(0, 8));
                }
                else
                {
                    await ReceiveAllAsync(state.Socket, state.Data);
                }
            });
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        listener.Dispose();
        await accepting;
    }

    private async Task AcceptAsync(int maxPayload)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync();
            }
            catch (Exception error) when (error is SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(socket, corpus, maxPayload));
        }
    }

    private static async Task ServeAsync(Socket socket, byte[] corpus, int maxPayload)
    {
        using var connection = socket;
        var data = new byte[maxPayload];
        var request = new byte[16];
        try
        {
            while (await ReceiveAllAsync(connection, request))
            {
                var op = BinaryPrimitives.ReadUInt32LittleEndian(request);
                var length = BinaryPrimitives.ReadInt32LittleEndian(request.AsSpan(4));
                if (op == Upload)
                {
                    await ReceiveAllAsync(connection, data.AsMemory(0, length));
                    await SendAllAsync(connection, request.AsMemory(0, 8));
                }
                else
                {
                    var offset = (int)BinaryPrimitives.ReadInt64LittleEndian(request.AsSpan(8));
                    await SendAllAsync(connection, corpus.AsMemory(offset, length));
                }
            }
        }
        catch (SocketException)
        {
        }
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            bytes = bytes[await socket.SendAsync(bytes)..];
        }
    }

    private static async Task<bool> ReceiveAllAsync(Socket socket, Memory<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var read = await socket.ReceiveAsync(buffer);
            if (read == 0)
            {
                return false;
            }

            buffer = buffer[read..];
        }

        return true;
    }
}
