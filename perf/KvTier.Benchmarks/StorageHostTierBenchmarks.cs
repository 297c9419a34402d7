using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvTier.Core;
using KvTier.Storage;

namespace KvTier.Benchmarks;

/// <summary>
/// Host-tier get and put of one block, beside a plain memcpy of the same bytes (the physical limit). A get is what
/// the TCP path does: lease the chunks (checksums verified), copy every chunk out, release the lease. A put is
/// reserve, copy in, commit (checksums verified), then delete so the next put finds room without eviction.
/// One operation = one block: GB/s = block bytes / Mean.
/// </summary>
public unsafe class StorageHostTierBenchmarks
{
    private const int Blocks = 16;

    private StorageEngine engine = null!;
    private BlockId[] ids = null!;
    private ChunkInfo[][] infos = null!;
    private byte[][] payloads = null!;
    private ChunkExtent[] extents = null!;
    private byte* source;
    private byte* destination;
    private int next;

    [Params(64 << 10, 2 << 20)]
    public int BlockBytes { get; set; }

    private int ChunkCount => BlockBytes == 64 << 10 ? 16 : 32;

    [GlobalSetup]
    public void Setup()
    {
        engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = 256L << 20, MaintenanceInterval = TimeSpan.Zero, TryLockMemory = false });
        var random = new Random(1);
        var chunkBytes = BlockBytes / ChunkCount;
        ids = new BlockId[Blocks];
        infos = new ChunkInfo[Blocks][];
        payloads = new byte[Blocks][];
        for (var block = 0; block < Blocks; block++)
        {
            ids[block] = new BlockId(new NamespaceId(7), new BlockKey((ulong)block, 42));
            payloads[block] = new byte[BlockBytes];
            random.NextBytes(payloads[block]);
            infos[block] = [.. Enumerable.Range(0, ChunkCount).Select(chunk => ChunkInfo.Of(payloads[block].AsSpan(chunk * chunkBytes, chunkBytes)))];
            var reservation = engine.Reserve(ids[block], infos[block], TimeSpan.FromSeconds(30));
            payloads[block].CopyTo(engine.ReservedBytes(reservation));
            if (engine.Commit(reservation).Status != CommitStatus.Committed)
            {
                throw new InvalidOperationException("setup commit failed");
            }
        }

        extents = new ChunkExtent[ChunkCount];
        source = (byte*)NativeMemory.AlignedAlloc((nuint)BlockBytes, 4096);
        destination = (byte*)NativeMemory.AlignedAlloc((nuint)BlockBytes, 4096);
        payloads[0].CopyTo(new Span<byte>(source, BlockBytes));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        engine.Dispose();
        NativeMemory.AlignedFree(source);
        NativeMemory.AlignedFree(destination);
    }

    [Benchmark(Baseline = true)]
    public void Memcpy() => Buffer.MemoryCopy(source, destination, BlockBytes, BlockBytes);

    [Benchmark]
    public int Get()
    {
        var block = next++ & (Blocks - 1);
        var result = engine.Read(ids[block], 0, -1, TimeSpan.FromSeconds(10), extents);
        var written = 0;
        var target = new Span<byte>(destination, BlockBytes);
        for (var chunk = 0; chunk < ChunkCount; chunk++)
        {
            engine.ExtentBytes(extents[chunk]).CopyTo(target[written..]);
            written += extents[chunk].Length;
        }

        engine.ReleaseLease(result.LeaseId);
        return written;
    }

    [Benchmark]
    public void Put()
    {
        var block = next++ & (Blocks - 1);
        var id = new BlockId(new NamespaceId(8), new BlockKey((ulong)block, 43));
        var reservation = engine.Reserve(id, infos[block], TimeSpan.FromSeconds(10));
        payloads[block].CopyTo(engine.ReservedBytes(reservation));
        engine.Commit(reservation);
        engine.Delete(id);
    }
}
