using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvTier.Core;
using KvTier.Storage;

namespace KvTier.Benchmarks;

/// <summary>
/// Host-tier get and put of one block, beside a plain memcpy of the same bytes (the physical limit): Memcpy copies
/// the block's chunks straight from their arena extents, rotating over 16 blocks (32 MiB at 2 MiB, more than the
/// cache) like the gets do. Get = lease with every chunk verified in the arena, copy each chunk out, release.
/// CopyOut = the TCP path's fused read: lease, copy each chunk and verify the copy while it is hot, release. Put =
/// reserve, copy in, commit (every chunk verified), then delete so the next put finds room without eviction.
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
    private ChunkExtent[][] blockExtents = null!;
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
        blockExtents = new ChunkExtent[Blocks][];
        for (var block = 0; block < Blocks; block++)
        {
            blockExtents[block] = new ChunkExtent[ChunkCount];
            engine.ReleaseLease(engine.Read(ids[block], 0, -1, TimeSpan.FromSeconds(10), blockExtents[block]).LeaseId);
        }

        destination = (byte*)NativeMemory.AlignedAlloc((nuint)BlockBytes, 4096);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        engine.Dispose();
        NativeMemory.AlignedFree(destination);
    }

    [Benchmark(Baseline = true)]
    public int Memcpy()
    {
        var block = next++ & (Blocks - 1);
        var written = 0;
        foreach (var extent in blockExtents[block])
        {
            var from = (byte*)engine.ArenaAddress + extent.ArenaOffset;
            Buffer.MemoryCopy(from, destination + written, BlockBytes - written, extent.Length);
            written += extent.Length;
        }

        return written;
    }

    [Benchmark]
    public int CopyOut()
    {
        var block = next++ & (Blocks - 1);
        engine.CopyOut(ids[block], 0, -1, new Span<byte>(destination, BlockBytes), out var written);
        return written;
    }

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
