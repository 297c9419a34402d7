using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace KvTier.DataPlaneLoad;

/// <summary>
/// The baseline: a loopback socket server with no protocol beyond an 8-byte request (<c>op u32 | length u32</c>).
/// Download (op 0): the server answers with <c>length</c> bytes from a fixed buffer. Upload (op 1): the client sends
/// <c>length</c> bytes after the request, the server reads them into a fixed buffer and answers 8 bytes. No parsing,
/// no checksums, no copies beyond the kernel's.
/// </summary>
internal sealed class RawSocket : IAsyncDisposable
{
    private const uint Download = 0;
    private const uint Upload = 1;
    private readonly Socket listener;
    private readonly Task accepting;

    private RawSocket(Socket listener, int maxPayload)
    {
        this.listener = listener;
        accepting = Task.Run(() => AcceptAsync(maxPayload));
    }

    public EndPoint EndPoint => listener.LocalEndPoint!;

    public static RawSocket Start(int maxPayload)
    {
        var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(64);
        return new RawSocket(listener, maxPayload);
    }

    /// <summary>Batched downloads (<paramref name="upload"/> false) or uploads of <paramref name="payload"/> bytes per operation.</summary>
    public async Task<Figures> MeasureAsync(bool upload, int payload, int clients, TimeSpan duration)
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
                return (Socket: socket, Data: data, Request: new byte[8]);
            }, async (state, _) =>
            {
                BinaryPrimitives.WriteUInt32LittleEndian(state.Request, upload ? Upload : Download);
                BinaryPrimitives.WriteInt32LittleEndian(state.Request.AsSpan(4), payload);
                await state.Socket.SendAsync(state.Request);
                if (upload)
                {
                    await SendAllAsync(state.Socket, state.Data);
                    await ReceiveAllAsync(state.Socket, state.Request);
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

            _ = Task.Run(() => ServeAsync(socket, maxPayload));
        }
    }

    private static async Task ServeAsync(Socket socket, int maxPayload)
    {
        using var connection = socket;
        var data = new byte[maxPayload];
        new Random(2).NextBytes(data);
        var request = new byte[8];
        try
        {
            while (await ReceiveAllAsync(connection, request))
            {
                var op = BinaryPrimitives.ReadUInt32LittleEndian(request);
                var length = BinaryPrimitives.ReadInt32LittleEndian(request.AsSpan(4));
                if (op == Upload)
                {
                    await ReceiveAllAsync(connection, data.AsMemory(0, length));
                    await SendAllAsync(connection, request);
                }
                else
                {
                    await SendAllAsync(connection, data.AsMemory(0, length));
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
