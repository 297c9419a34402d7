using System.Globalization;
using System.Runtime.CompilerServices;
using KvTier.Core;
using KvTier.Storage;
using KvTier.Storage.Arena;
using KvTier.Workloads;

namespace KvTier.EvictionStudy;

/// <summary>
/// Memory the engine spends per block (index, eviction policy, allocator) beside a plain Dictionary index, and the
/// offset allocator's utilisation under <see cref="BlockSizeMix"/> churn. Sizes, not times: deterministic.
/// </summary>
internal static class Footprint
{
    public static void Run()
    {
        const int blocks = 200_000;
        using var engine = StorageEngine.Open(new StorageOptions
        {
            HostArenaBytes = 128L << 20,
            ExpectedBlocks = blocks,
            MaintenanceInterval = TimeSpan.Zero,
            TryLockMemory = false,
        });
        var payload = new byte[100];
        ChunkInfo[] chunk = [ChunkInfo.Of(payload)];
        for (var number = 0; number < blocks; number++)
        {
            var reservation = engine.Reserve(new BlockId(new NamespaceId(1), new BlockKey((ulong)number * 0x9E3779B97F4A7C15UL, (ulong)number)), chunk, TimeSpan.FromSeconds(10));
            payload.CopyTo(engine.ReservedBytes(reservation));
            engine.Commit(reservation);
        }

        var stats = engine.GetStats();
        var policyBytes = engine.HostPolicy.MemoryBytes;
        var allocatorBytes = engine.Allocator.MetadataBytes;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"blocks held: {stats.Blocks:N0} (entry struct {Unsafe.SizeOf<KvTier.Storage.Indexing.BlockEntry>()} bytes)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"index bytes/block: {(double)stats.IndexBytes / stats.Blocks:F1}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eviction policy bytes/block: {(double)policyBytes / stats.Blocks:F1}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"allocator metadata bytes/block: {(double)allocatorBytes / stats.Blocks:F1}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"baseline Dictionary<BlockId, location> bytes/block: {DictionaryBytesPerBlock(blocks):F1}"));
        Utilisation();
    }

    private static double DictionaryBytesPerBlock(int blocks)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var dictionary = new Dictionary<BlockId, (long Offset, int Length, ulong Checksum)>(blocks);
        for (var number = 0; number < blocks; number++)
        {
            dictionary[new BlockId(new NamespaceId(1), new BlockKey((ulong)number, (ulong)number))] = (number, 100, 0);
        }

        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(dictionary);
        return (double)bytes / blocks;
    }

    /// <summary>
    /// Fills a 4 GiB allocator from the size mix; whenever an allocation fails, frees random live extents until it
    /// succeeds (the engine's eviction, order-agnostic), and samples live requested bytes / capacity at each failure.
    /// </summary>
    private static void Utilisation()
    {
        const long capacity = 4L << 30;
        var allocator = new OffsetAllocator(capacity);
        var random = new Random(5);
        var sizes = BlockSizeMix.Draw(random, 200_000);
        var live = new List<(int Handle, int Size)>();
        long liveBytes = 0;
        double sum = 0, worst = 1, steadySum = 0;
        var samples = 0;
        var steadySamples = 0;
        foreach (var size in sizes)
        {
            int handle;
            var sampled = false;
            while ((handle = allocator.Allocate(size, out _)) < 0)
            {
                if (!sampled && live.Count > 0)
                {
                    var utilisation = (double)liveBytes / capacity;
                    sum += utilisation;
                    worst = Math.Min(worst, utilisation);
                    samples++;
                    sampled = true;
                }

                var victim = random.Next(live.Count);
                allocator.Free(live[victim].Handle);
                liveBytes -= live[victim].Size;
                live[victim] = live[^1];
                live.RemoveAt(live.Count - 1);
            }

            live.Add((handle, size));
            liveBytes += size;
            if (samples > 0)
            {
                steadySum += (double)liveBytes / capacity;
                steadySamples++;
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"allocator utilisation at allocation failure (requested bytes / arena), {samples:N0} samples: mean {sum / samples:P2}, worst {worst:P2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"allocator utilisation after each allocation once full (steady state), {steadySamples:N0} samples: mean {steadySum / steadySamples:P2}"));
    }
}
