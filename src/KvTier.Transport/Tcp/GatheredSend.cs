using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KvTier.Transport.Tcp;

/// <summary>
/// One <c>sendmsg</c> over many segments (Linux): an answer made of a head and many arena windows leaves in one system
/// call instead of one per segment. Besides the calls, that saves wakeups: on loopback every send hands its bytes to
/// the receiver at once and may wake it, so a receiver fed segment by segment wakes, reads a little and sleeps again
/// once per segment. <c>Socket.Send(IList&lt;ArraySegment&gt;)</c> would do the same but takes managed arrays only, and
/// arena windows are native memory. The call never blocks (<c>MSG_DONTWAIT</c>): what the socket does not take now is
/// left to the caller's ordinary asynchronous writes.
/// </summary>
internal static unsafe partial class GatheredSend
{
    // Linux's IOV_MAX; a longer answer goes out in several calls.
    private const int MaxSegmentsPerCall = 1024;
    private const int DontWait = 0x40;
    private const int NoSignal = 0x4000;
    private const int WouldBlock = 11;
    private const int Interrupted = 4;

    /// <summary>Whether this platform has the call (64-bit Linux, whose <c>msghdr</c> layout is written below).</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>Sends as much of <paramref name="segments"/> (back to back) as the socket takes without waiting;
    /// returns the bytes sent (0 when its buffer is full).</summary>
    /// <exception cref="SocketException">The connection failed.</exception>
    public static long SendAvailable(Socket socket, ReadOnlySpan<ReadOnlyMemory<byte>> segments)
    {
        long sent = 0;
        var vectors = stackalloc IoVector[Math.Min(segments.Length, MaxSegmentsPerCall)];
        var pins = ArrayPool<MemoryHandle>.Shared.Rent(Math.Min(segments.Length, MaxSegmentsPerCall));
        var added = false;
        try
        {
            try
            {
                socket.SafeHandle.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                throw new SocketException((int)SocketError.OperationAborted);
            }

            var fd = socket.SafeHandle.DangerousGetHandle();
            while (!segments.IsEmpty)
            {
                var count = Math.Min(segments.Length, MaxSegmentsPerCall);
                long wanted = 0;
                var pinned = 0;
                try
                {
                    for (var i = 0; i < count; i++)
                    {
                        pins[pinned] = segments[i].Pin();
                        pinned++;
                        vectors[i] = new IoVector((nint)pins[i].Pointer, (nuint)segments[i].Length);
                        wanted += segments[i].Length;
                    }

                    var message = new MessageHeader { Vectors = vectors, VectorCount = (nuint)count };
                    nint result;
                    do
                    {
                        result = SendMessage(fd, &message, DontWait | NoSignal);
                    }
                    while (result < 0 && Marshal.GetLastPInvokeError() == Interrupted);

                    if (result < 0)
                    {
                        var error = Marshal.GetLastPInvokeError();
                        return error == WouldBlock ? sent : throw new SocketException(ErrnoToSocketError(error));
                    }

                    sent += result;
                    if (result < wanted)
                    {
                        return sent;
                    }
                }
                finally
                {
                    for (var i = 0; i < pinned; i++)
                    {
                        pins[i].Dispose();
                    }
                }

                segments = segments[count..];
            }

            return sent;
        }
        finally
        {
            if (added)
            {
                socket.SafeHandle.DangerousRelease();
            }

            ArrayPool<MemoryHandle>.Shared.Return(pins, clearArray: true);
        }
    }

    private static int ErrnoToSocketError(int errno) => errno switch
    {
        32 => (int)SocketError.Shutdown, // EPIPE
        104 => (int)SocketError.ConnectionReset,
        110 => (int)SocketError.TimedOut,
        9 => (int)SocketError.OperationAborted, // EBADF: closed under us
        _ => (int)SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMessage(nint socket, MessageHeader* message, int flags);

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct IoVector(nint address, nuint length)
    {
        public readonly nint Address = address;
        public readonly nuint Length = length;
    }

    // struct msghdr on 64-bit Linux.
    [StructLayout(LayoutKind.Sequential)]
    private struct MessageHeader
    {
        public nint Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public nint Control;
        public nuint ControlLength;
        public int Flags;
    }
}
