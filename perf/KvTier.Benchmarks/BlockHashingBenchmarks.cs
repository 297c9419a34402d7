using BenchmarkDotNet.Attributes;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Benchmarks;

/// <summary>
/// Block-key hashing throughput. One operation is one token, so BenchmarkDotNet's "Mean" is nanoseconds per token
/// (tokens/s = 1e9 / Mean). Runs on one thread, i.e. one core.
/// </summary>
[MemoryDiagnoser]
public class BlockHashingBenchmarks
{
    private const int PromptTokens = 64 * 1024;

    private BlockHasher hasher = null!;
    private int[] tokens = null!;
    private BlockKey[] keys = null!;

    [Params(BlockHashAlgorithm.Xxh3, BlockHashAlgorithm.Sha256Cbor)]
    public BlockHashAlgorithm Algorithm { get; set; }

    [Params(16, 256)]
    public int TokensPerBlock { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var preset = ModelPresets.Llama3With8B;
        hasher = BlockHasher.Create(KvNamespace.ForPreset(preset, "bench", KvDataType.BFloat16, TokensPerBlock, Algorithm), "salt");
        var random = new Random(1);
        // Real vocabularies mix small and large ids; Llama-3's spans the 1-, 2-, 3- and 5-byte CBOR widths.
        tokens = Enumerable.Range(0, PromptTokens).Select(_ => random.Next(preset.VocabularySize)).ToArray();
        keys = new BlockKey[PromptTokens / TokensPerBlock];
    }

    [Benchmark(OperationsPerInvoke = PromptTokens)]
    public int HashPrompt() => hasher.ComputeKeys(tokens, keys);
}
