using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using KvTier.Storage.Arena;
using KvTier.Workloads;

namespace KvTier.Benchmarks;

/// <summary>
/// Cost of one allocate + free of the host arena's offset allocator under a realistic block-size mix (encoded KV
/// blocks from 16 KiB to 4 MiB) with ~2000 live extents, beside malloc/free (NativeMemory) of the same sizes.
/// One operation = one allocation and one free.
/// </summary>
public unsafe class StorageAllocatorBenchmarks
{
    private const int Live = 2048;
    private const int Operations = 4096;

    private OffsetAllocator allocator = null!;
    private int[] sizes = null!;
    private int[] handles = null!;
    private void*[] pointers = null!;

    [GlobalSetup]
    public void Setup()
    {
        sizes = BlockSizeMix.Draw(new Random(3), Operations);
        allocator = new OffsetAllocator(16L << 30, Live);
        handles = new int[Live];
        pointers = new void*[Live];
        for (var index = 0; index < Live; index++)
        {
            handles[index] = allocator.Allocate(sizes[index], out _);
            pointers[index] = NativeMemory.Alloc((nuint)sizes[index]);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var pointer in pointers)
        {
            NativeMemory.Free(pointer);
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations)]
    public void Malloc()
    {
        for (var operation = 0; operation < Operations; operation++)
        {
            var victim = (operation * 7919) & (Live - 1);
            NativeMemory.Free(pointers[victim]);
            pointers[victim] = NativeMemory.Alloc((nuint)sizes[operation]);
        }
    }

    [Benchmark(OperationsPerInvoke = Operations)]
    public void OffsetAllocator()
    {
        for (var operation = 0; operation < Operations; operation++)
        {
            var victim = (operation * 7919) & (Live - 1);
            allocator.Free(handles[victim]);
            handles[victim] = allocator.Allocate(sizes[operation], out _);
        }
    }
}
