using System.IO.Hashing;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvTier.Rdma;

namespace KvTier.Benchmarks;

/// <summary>The transport's client reader against the shim's fake device: 64 leased 16 KiB chunks read into host
/// memory through <see cref="RdmaExtentReader"/> (range checks, batched posts within the queue depth, in-order
/// completion bookkeeping, XXH3-64 check of every chunk) versus the same 64 READs posted and polled raw through the
/// binding (the baseline). The fake copies with memcpy, so the difference is the reader's own cost per chunk.</summary>
[MemoryDiagnoser]
public unsafe class RdmaExtentReaderBenchmarks
{
    private const int Chunks = 64;
    private const int Chunk = 16 << 10;
    private const int ArenaBytes = 4 << 20;
    private readonly RdmaCompletion[] completions = new RdmaCompletion[Chunks];
    private readonly RdmaTransferStatus[] statuses = new RdmaTransferStatus[Chunks];
    private RdmaExtentTransfer[] transfers = [];
    private RdmaOperation[] raw = [];
    private RdmaContext context = null!;
    private RdmaArenaServer server = null!;
    private RdmaMemoryRegion local = null!;
    private RdmaExtentReader reader = null!;
    private RdmaCompletionQueue queue = null!;
    private RdmaQueuePair rawQueuePair = null!;
    private byte* arena;
    private byte* localBytes;

    [GlobalSetup]
    public void Setup()
    {
        FakeRdmaDevice.Enable();

        context = RdmaContext.Open();
        arena = (byte*)NativeMemory.AlignedAlloc(ArenaBytes, 4096);
        localBytes = (byte*)NativeMemory.AlignedAlloc(Chunks * Chunk, 4096);
        new Random(1).NextBytes(new Span<byte>(arena, ArenaBytes));
        server = new RdmaArenaServer(context, (nint)arena, ArenaBytes);
        local = context.RegisterMemory((nint)localBytes, Chunks * Chunk, RdmaAccess.LocalWrite);
        reader = new RdmaExtentReader(context, RdmaDestination.Host(local), (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint)),
            new RdmaReaderOptions { QueueDepth = Chunks, BatchSize = Chunks });
        transfers = new RdmaExtentTransfer[Chunks];
        for (var i = 0; i < Chunks; i++)
        {
            var offset = (ulong)(i * 3 % (ArenaBytes / Chunk)) * Chunk;
            transfers[i] = new RdmaExtentTransfer(offset, Chunk, (ulong)(i * Chunk), XxHash3.HashToUInt64(new ReadOnlySpan<byte>(arena + offset, Chunk)));
        }

        // The baseline: a queue pair of its own, connected to the same server, posting the same READs raw.
        queue = context.CreateCompletionQueue(Chunks + 1);
        rawQueuePair = context.CreateQueuePair(queue, Chunks);
        var remote = server.Accept(rawQueuePair.LocalEndpoint);
        rawQueuePair.Connect(remote.Endpoint);
        raw = transfers.Select((t, i) => new RdmaOperation
        {
            RequestId = (ulong)i,
            LocalAddress = local.Address + t.LocalOffset,
            RemoteAddress = remote.Address + t.RemoteOffset,
            Length = t.Length,
            RemoteKey = remote.RemoteKey,
            Opcode = RdmaOpcode.Read,
            Flags = i == Chunks - 1 ? RdmaOperationFlags.Signaled : RdmaOperationFlags.None,
        }).ToArray();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Chunks)]
    public int RawBatchedReads()
    {
        rawQueuePair.Post(local, raw);
        return queue.Poll(completions);
    }

    [Benchmark(OperationsPerInvoke = Chunks)]
    public int ReaderVerifiedReads() =>
        // Once connected the call completes synchronously (the calling thread polls), so this waits on a done task.
        reader.ReadAsync(transfers, statuses).GetAwaiter().GetResult().Succeeded;

    [GlobalCleanup]
    public void Cleanup()
    {
        reader.Dispose();
        rawQueuePair.Dispose();
        queue.Dispose();
        local.Dispose();
        server.Dispose();
        context.Dispose();
        NativeMemory.AlignedFree(arena);
        NativeMemory.AlignedFree(localBytes);
    }
}
