using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace KvTier.Rdma.Tests;

/// <summary>A node's arena served by an <see cref="RdmaArenaServer"/> and a client's registered region read and
/// written by an <see cref="RdmaExtentReader"/>, both on the fake device in this process; the connector calls the
/// server directly where the client would call the control plane, and can be told to lie about the arena.</summary>
internal sealed unsafe class TransportPair : IDisposable
{
    public const int ArenaBytes = 1 << 20;
    public const int LocalBytes = 1 << 20;

    public TransportPair(RdmaReaderOptions? options = null, RdmaMemoryKind kind = RdmaMemoryKind.Host)
    {
        Context = RdmaContext.Open();
        ArenaMemory = (byte*)NativeMemory.AlignedAlloc(ArenaBytes, 4096);
        LocalMemory = (byte*)NativeMemory.AlignedAlloc(LocalBytes, 4096);
        new Random(7).NextBytes(Arena);
        Local.Clear();
        Server = new RdmaArenaServer(Context, (nint)ArenaMemory, ArenaBytes);
        Region = Context.RegisterMemory((nint)LocalMemory, LocalBytes, RdmaAccess.LocalWrite);
        Reader = new RdmaExtentReader(Context, kind == RdmaMemoryKind.Host ? RdmaDestination.Host(Region) : RdmaDestination.Device(Region),
            ConnectAsync, options);
    }

    public RdmaContext Context { get; }

    public RdmaArenaServer Server { get; }

    public RdmaMemoryRegion Region { get; }

    public RdmaExtentReader Reader { get; }

    public byte* ArenaMemory { get; }

    public byte* LocalMemory { get; }

    public nint LocalAddress => (nint)LocalMemory;

    public Span<byte> Arena => new(ArenaMemory, ArenaBytes);

    public Span<byte> Local => new(LocalMemory, LocalBytes);

    /// <summary>Exchanges so far.</summary>
    public int Exchanges { get; private set; }

    /// <summary>Rewrites the node's answer for the next exchanges (null: answer truthfully).</summary>
    public Func<RdmaRemoteArena, RdmaRemoteArena>? Lie { get; set; }

    /// <summary>Transfers of <paramref name="lengths"/> bytes, packed in the local region, taken from scattered arena
    /// offsets, with the arena bytes' true checksums.</summary>
    public RdmaExtentTransfer[] Extents(params int[] lengths)
    {
        var transfers = new RdmaExtentTransfer[lengths.Length];
        ulong local = 0;
        for (var i = 0; i < lengths.Length; i++)
        {
            var remote = (ulong)((i * 7919 * 64) % (ArenaBytes - lengths[i]));
            transfers[i] = new RdmaExtentTransfer(remote, (uint)lengths[i], local, XxHash3.HashToUInt64(Arena.Slice((int)remote, lengths[i])));
            local += (ulong)lengths[i];
        }

        return transfers;
    }

    public bool Landed(RdmaExtentTransfer transfer) =>
        Local.Slice((int)transfer.LocalOffset, (int)transfer.Length)
            .SequenceEqual(Arena.Slice((int)transfer.RemoteOffset, (int)transfer.Length));

    public void Dispose()
    {
        Reader.Dispose();
        Region.Dispose();
        Server.Dispose();
        Context.Dispose();
        NativeMemory.AlignedFree(ArenaMemory);
        NativeMemory.AlignedFree(LocalMemory);
    }

    private ValueTask<RdmaRemoteArena> ConnectAsync(RdmaEndpoint local, CancellationToken cancellationToken)
    {
        Exchanges++;
        var answer = Server.Accept(local);
        return ValueTask.FromResult(Lie is null ? answer : Lie(answer));
    }
}
