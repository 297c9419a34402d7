using BenchmarkDotNet.Attributes;
using KvTier.Core;
using KvTier.Storage;
using KvTier.Storage.Nvme;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Benchmarks;

/// <summary>
/// NVMe-tier sequential throughput: 32 records of 2 MiB (64 MiB) appended to segment files with O_DIRECT, and read
/// back, beside a plain buffered file write (with fsync) and read of the same 64 MiB in the same directory. One
/// operation = 64 MiB: GB/s = 0.0671 / Mean[s]. KVTIER_BENCH_DIR picks the directory (default: the temp folder).
/// </summary>
public class StorageNvmeTierBenchmarks
{
    private const int Records = 32;
    private const int RecordBytes = 2 << 20;

    private string directory = null!;
    private SegmentStore store = null!;
    private byte[] extent = null!;
    private ulong[] locations = null!;
    private BlockId[] ids = null!;
    private string plainFile = null!;

    [GlobalSetup]
    public void Setup()
    {
        directory = Path.Combine(Environment.GetEnvironmentVariable("KVTIER_BENCH_DIR") ?? Path.GetTempPath(), "kvtier-nvme-bench-" + Environment.ProcessId);
        Directory.CreateDirectory(directory);
        plainFile = Path.Combine(directory, "plain.bin");
        extent = new byte[RecordBytes - 4096];
        new Random(1).NextBytes(extent);
        ids = [.. Enumerable.Range(0, Records).Select(number => new BlockId(new NamespaceId(1), new BlockKey((ulong)number, 1)))];
        OpenStore();
        locations = new ulong[Records];
        for (var record = 0; record < Records; record++)
        {
            locations[record] = store.Append(ids[record], extent, 0);
        }

        using var file = new FileStream(plainFile, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (var record = 0; record < Records; record++)
        {
            file.Write(extent);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        store.Dispose();
        Directory.Delete(directory, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public void PlainFileWrite()
    {
        using var file = new FileStream(plainFile, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (var record = 0; record < Records; record++)
        {
            file.Write(extent);
        }

        file.Flush(flushToDisk: true);
    }

    [Benchmark]
    public long PlainFileRead()
    {
        using var file = new FileStream(plainFile, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var buffer = new byte[RecordBytes];
        long total = 0;
        int read;
        while ((read = file.Read(buffer)) > 0)
        {
            total += read;
        }

        return total;
    }

    [Benchmark]
    public void SegmentAppend()
    {
        store.Dispose();
        foreach (var path in Directory.GetFiles(directory, "segment-*"))
        {
            File.Delete(path);
        }

        OpenStore();
        for (var record = 0; record < Records; record++)
        {
            locations[record] = store.Append(ids[record], extent, 0);
        }
    }

    [Benchmark]
    public int SegmentRead()
    {
        var total = 0;
        for (var record = 0; record < Records; record++)
        {
            total += store.Read(locations[record], ids[record], extent.Length).Length;
        }

        return total;
    }

    private void OpenStore() => store = new SegmentStore(directory, 256L << 20, 1L << 30, RecordBytes, NullLogger.Instance);
}
