using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvTier.Rdma;

namespace KvTier.Benchmarks;

/// <summary>The binding's post/poll path through the shim, against the shim's in-memory fake device (no NIC here):
/// 64 small RDMA READs posted as one linked list (one doorbell) versus one post per operation. With the fake's
/// memcpy of 64 bytes per op, the figures are the binding + shim overhead per operation, not wire speed.</summary>
[MemoryDiagnoser]
public unsafe class RdmaPostPollBenchmarks
{
    private const int Operations = 64;
    private const int RegionBytes = 1 << 16;
    private readonly RdmaCompletion[] completions = new RdmaCompletion[Operations];
    private RdmaOperation[] batch = [];
    private RdmaOperation[] signaledSingles = [];
    private RdmaContext context = null!;
    private RdmaCompletionQueue queue = null!;
    private RdmaCompletionQueue peerQueue = null!;
    private RdmaQueuePair a = null!;
    private RdmaQueuePair b = null!;
    private RdmaMemoryRegion local = null!;
    private RdmaMemoryRegion remote = null!;
    private byte* localBytes;
    private byte* remoteBytes;

    [GlobalSetup]
    public void Setup()
    {
        FakeRdmaDevice.Enable();

        context = RdmaContext.Open();
        queue = context.CreateCompletionQueue(1024);
        peerQueue = context.CreateCompletionQueue(16);
        a = context.CreateQueuePair(queue, Operations);
        b = context.CreateQueuePair(peerQueue, 16);
        a.Connect(b.LocalEndpoint);
        b.Connect(a.LocalEndpoint);
        localBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
        remoteBytes = (byte*)NativeMemory.AlignedAlloc(RegionBytes, 4096);
        local = context.RegisterMemory((nint)localBytes, RegionBytes, RdmaAccess.LocalWrite);
        remote = context.RegisterMemory((nint)remoteBytes, RegionBytes, RdmaAccess.RemoteRead);
        batch = new RdmaOperation[Operations];
        for (var i = 0; i < Operations; i++)
        {
            batch[i] = new RdmaOperation
            {
                RequestId = (ulong)i,
                LocalAddress = local.Address + (ulong)(i * 64),
                RemoteAddress = remote.Address + (ulong)(i * 512),
                Length = 64,
                RemoteKey = remote.RemoteKey,
                Opcode = RdmaOpcode.Read,
            };
        }

        signaledSingles = batch.Select(op => op with { Flags = RdmaOperationFlags.Signaled }).ToArray();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public int OnePostPerOperation()
    {
        for (var i = 0; i < Operations; i++)
        {
            a.Post(local, signaledSingles.AsSpan(i, 1));
        }

        return queue.Poll(completions);
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public int OneBatchedPost()
    {
        a.Post(local, batch); // only the last is signaled
        return queue.Poll(completions);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        a.Dispose();
        b.Dispose();
        queue.Dispose();
        peerQueue.Dispose();
        local.Dispose();
        remote.Dispose();
        context.Dispose();
        NativeMemory.AlignedFree(localBytes);
        NativeMemory.AlignedFree(remoteBytes);
    }
}
