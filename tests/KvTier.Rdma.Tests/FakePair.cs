using System.Runtime.InteropServices;

namespace KvTier.Rdma.Tests;

/// <summary>Two connected queue pairs on one (fake) device: A issues operations against B's region, as a client
/// reads a node's arena. The regions are native memory, as the arena is.</summary>
internal sealed unsafe class FakePair : IDisposable
{
    public const int RegionBytes = 1 << 20;

    public FakePair(bool withChannel = false)
    {
        Context = RdmaContext.Open();
        Channel = withChannel ? Context.CreateCompletionChannel() : null;
        CompletionQueue = Context.CreateCompletionQueue(1024, Channel);
        PeerCompletionQueue = Context.CreateCompletionQueue(1024);
        A = Context.CreateQueuePair(CompletionQueue, 256);
        B = Context.CreateQueuePair(PeerCompletionQueue, 256);
        LocalBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
        RemoteBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
        Local = Context.RegisterMemory((nint)LocalBytes, RegionBytes, RdmaAccess.LocalWrite);
        Remote = Context.RegisterMemory((nint)RemoteBytes, RegionBytes, RdmaAccess.RemoteRead | RdmaAccess.RemoteWrite);
        Connect();
    }

    public RdmaContext Context { get; }

    public RdmaCompletionChannel? Channel { get; }

    public RdmaCompletionQueue CompletionQueue { get; }

    public RdmaCompletionQueue PeerCompletionQueue { get; }

    public RdmaQueuePair A { get; }

    public RdmaQueuePair B { get; }

    public byte* LocalBytes { get; }

    public byte* RemoteBytes { get; }

    public Span<byte> LocalSpan => new(LocalBytes, RegionBytes);

    public Span<byte> RemoteSpan => new(RemoteBytes, RegionBytes);

    public RdmaMemoryRegion Local { get; }

    public RdmaMemoryRegion Remote { get; }

    public void Connect()
    {
        var a = A.LocalEndpoint;
        var b = B.LocalEndpoint;
        A.Connect(b);
        B.Connect(a);
    }

    public RdmaOperation Operation(ulong id, RdmaOpcode opcode, int localOffset, int remoteOffset, uint length,
        RdmaOperationFlags flags = RdmaOperationFlags.Signaled) => new()
        {
            RequestId = id,
            LocalAddress = Local.Address + (ulong)localOffset,
            RemoteAddress = Remote.Address + (ulong)remoteOffset,
            Length = length,
            RemoteKey = Remote.RemoteKey,
            Opcode = opcode,
            Flags = flags,
        };

    /// <summary>Collects exactly <paramref name="expected"/> completions; the fake completes synchronously.</summary>
    public RdmaCompletion[] Drain(int expected)
    {
        var completions = new RdmaCompletion[expected + 8];
        var count = CompletionQueue.Poll(completions);
        Assert.Equal(expected, count);
        return completions[..count];
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
        CompletionQueue.Dispose();
        PeerCompletionQueue.Dispose();
        Channel?.Dispose();
        Local.Dispose();
        Remote.Dispose();
        Context.Dispose();
        NativeMemory.AlignedFree(LocalBytes);
        NativeMemory.AlignedFree(RemoteBytes);
    }
}
