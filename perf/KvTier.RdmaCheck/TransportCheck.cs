using System.IO.Hashing;
using System.Runtime.InteropServices;
using KvTier.Rdma;

namespace KvTier.RdmaCheck;

/// <summary>The RDMA transport's parts on a real device: an <see cref="RdmaArenaServer"/> serving a node-like arena
/// and an <see cref="RdmaExtentReader"/> connected to it through a direct exchange (two queue pairs of this
/// process): verified batched reads, writes, and a remote access error with reconnect.</summary>
internal static class TransportCheck
{
    private const int ArenaBytes = 16 << 20;
    private const int LocalBytes = 16 << 20;
    private const int Chunk = 16 << 10;

    public static async Task RunAsync(string? deviceName, Action<bool, string> check)
    {
        using var context = RdmaContext.Open(deviceName);
        var arena = Allocate(ArenaBytes);
        var local = Allocate(LocalBytes);
        try
        {
            new Random(5).NextBytes(Bytes(arena, 0, ArenaBytes));
            using var server = new RdmaArenaServer(context, arena, ArenaBytes);
            using var region = context.RegisterMemory(local, LocalBytes, RdmaAccess.LocalWrite);
            var lie = false;
            using var reader = new RdmaExtentReader(context, RdmaDestination.Host(region), (endpoint, _) =>
            {
                var answer = server.Accept(endpoint);
                return ValueTask.FromResult(lie ? answer with { Length = answer.Length * 2 } : answer);
            }, new RdmaReaderOptions { QueueDepth = 128, BatchSize = 32 });

            var transfers = new RdmaExtentTransfer[512];
            for (var i = 0; i < transfers.Length; i++)
            {
                var remote = (ulong)(i * 7 % (ArenaBytes / Chunk)) * Chunk;
                transfers[i] = new RdmaExtentTransfer(remote, Chunk, (ulong)i * Chunk % LocalBytes,
                    XxHash3.HashToUInt64(Bytes(arena, remote, Chunk)));
            }

            var statuses = new RdmaTransferStatus[transfers.Length];
            var batch = transfers;
            var read = await reader.ReadAsync(batch, statuses);
            check(read.Succeeded == batch.Length && statuses[..batch.Length].All(s => s == RdmaTransferStatus.Verified),
                $"transport: {batch.Length} x 16 KiB leased extents read in batches of 32 and verified (XXH3-64) [{read}]");

            new Random(6).NextBytes(Bytes(local, 0, 64 * Chunk));
            var writes = Enumerable.Range(0, 64).Select(i => new RdmaExtentTransfer((ulong)(ArenaBytes - ((i + 1) * Chunk)), Chunk,
                (ulong)i * Chunk, 0)).ToArray();
            var written = await reader.WriteAsync(writes, statuses);
            var placed = writes.All(w => Bytes(local, w.LocalOffset, Chunk).SequenceEqual(Bytes(arena, w.RemoteOffset, Chunk)));
            check(written.Succeeded == writes.Length && placed, $"transport: 64 x 16 KiB WRITEs into arena extents landed [{written}]");

            lie = true;
            await reader.ConnectAsync();
            var faulty = transfers[..40].ToArray();
            faulty[17] = faulty[17] with { RemoteOffset = ArenaBytes + (1 << 20) };
            var recovered = await reader.ReadAsync(faulty, statuses);
            check(statuses[17] == RdmaTransferStatus.RemoteAccess && recovered.Succeeded == 39 && recovered.Reconnects == 1
                  && reader.IsConnected && server.ConnectionCount == 1,
                $"transport: an extent outside the registered arena fails alone (RemoteAccess), the flushed rest is read after one reconnect [{recovered}]");
        }
        finally
        {
            Free(arena);
            Free(local);
        }
    }

    private static unsafe nint Allocate(int bytes) => (nint)NativeMemory.AlignedAlloc((nuint)bytes, 4096);

    private static unsafe void Free(nint memory) => NativeMemory.AlignedFree((void*)memory);

    private static unsafe Span<byte> Bytes(nint memory, ulong offset, int length) => new((byte*)memory + offset, length);
}
