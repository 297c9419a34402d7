using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.Core;

namespace KvTier.Benchmarks;

/// <summary>
/// The in-process directory's longest-prefix lookup of a fully cached chain, against the baseline of the same number
/// of bare <see cref="ConcurrentDictionary{TKey, TValue}"/> reads (what any in-memory map costs). The Redis directory
/// is measured over the wire by perf/KvTier.DirectoryLoad, not here.
/// </summary>
[MemoryDiagnoser]
public class DirectoryBenchmarks
{
    private readonly NamespaceId ns = new(7);
    private InProcessBlockDirectory directory = null!;
    private ConcurrentDictionary<BlockKey, BlockLocation> bareMap = null!;
    private BlockKey[] chain = null!;

    [Params(8, 64, 512)]
    public int ChainLength { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        chain = [.. Enumerable.Range(0, ChainLength).Select(_ => new BlockKey((ulong)random.NextInt64(), (ulong)random.NextInt64()))];
        var node = new NodeInfo(new NodeId(1), 1, "127.0.0.1:7400", "127.0.0.1:7401", false, 1L << 40, 1L << 39);
        var location = new BlockLocation(node.Id, StorageTier.Host, 1 << 20, node.Epoch);
        directory = new InProcessBlockDirectory();
        directory.RegisterNodeAsync(node, TimeSpan.FromHours(1)).AsTask().GetAwaiter().GetResult();
        directory.PublishAsync(ns, [.. Enumerable.Range(0, ChainLength).Select(index => new BlockPublication(DirectoryKey.InChain(chain, index), location))])
            .AsTask().GetAwaiter().GetResult();
        bareMap = new ConcurrentDictionary<BlockKey, BlockLocation>(chain.Select(key => KeyValuePair.Create(key, location)));
    }

    [Benchmark(Baseline = true)]
    public int BareDictionaryReads()
    {
        var found = 0;
        foreach (var key in chain)
        {
            if (!bareMap.TryGetValue(key, out _))
            {
                break;
            }

            found++;
        }

        return found;
    }

    [Benchmark]
    public int InProcessLookup() => directory.LookupPrefixAsync(ns, chain).AsTask().GetAwaiter().GetResult().HitCount;
}
