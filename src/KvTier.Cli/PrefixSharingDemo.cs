using System.Diagnostics;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Cli;

/// <summary>
/// "kvtier demo": builds a synthetic multi-turn chat workload (shared system prompts, growing histories), hashes
/// every prompt into block keys with both algorithms, and replays the keys against an unbounded prefix cache to show
/// how many prefill tokens the tier can save and how many KV bytes it would move instead.
/// </summary>
internal static class PrefixSharingDemo
{
    public static int Run(string[] args)
    {
        var options = new CommandOptions(args, "sessions", "model", "tokens-per-block", "seed");
        var sessions = options.GetInt("sessions", 300, 1, 100_000);
        var preset = ModelPresets.Get(options.Get("model", "llama-3-8b"));
        var tokensPerBlock = options.GetInt("tokens-per-block", 16, 1, 4096);
        var seed = options.GetInt("seed", 7, 0, int.MaxValue);

        var requests = SyntheticChat.Generate(sessions, preset.VocabularySize, seed);
        var promptTokens = requests.Sum(r => (long)r.Length);
        Console.WriteLine($"Workload: {requests.Count} requests from {sessions} chat sessions, {promptTokens:N0} prompt tokens " +
            $"(synthetic; seed {seed}).");
        Console.WriteLine($"Model: {preset.ModelId}, {preset.ToLayout(KvDataType.BFloat16, tokensPerBlock)}");
        Console.WriteLine();

        Console.WriteLine($"{"algorithm",-12} {"hash tok/s",12} {"blocks",10} {"hit blocks",11} {"hit ratio",10} {"prefill saved",14} {"KV loaded",10} {"KV stored",10}");
        foreach (var algorithm in new[] { BlockHashAlgorithm.Xxh3, BlockHashAlgorithm.Sha256Cbor })
        {
            var kvNamespace = KvNamespace.ForPreset(preset, tenant: "demo", KvDataType.BFloat16, tokensPerBlock, algorithm);
            var hasher = BlockHasher.Create(kvNamespace, tenantSalt: "demo-tenant-salt");
            var result = Replay(hasher, requests);
            var bytesPerBlock = kvNamespace.Layout.BytesPerBlock;
            Console.WriteLine($"{algorithm.Name(),-12} {result.TokensPerSecond,12:N0} {result.Blocks,10:N0} {result.HitBlocks,11:N0} " +
                $"{(double)result.HitBlocks / result.Blocks,10:P1} {result.HitBlocks * (long)tokensPerBlock,14:N0} " +
                $"{FormatBytes(result.HitBlocks * bytesPerBlock),10} {FormatBytes((result.Blocks - result.HitBlocks) * bytesPerBlock),10}");
        }

        Console.WriteLine();
        Console.WriteLine("Both algorithms must agree on hits: keys differ, prefixes do not. 'prefill saved' counts tokens whose");
        Console.WriteLine("KV an unbounded tier would load instead of recomputing; the trace replayer adds capacity, eviction and TTFT.");
        return 0;
    }

    private static ReplayResult Replay(BlockHasher hasher, IReadOnlyList<int[]> requests)
    {
        var cached = new HashSet<BlockKey>();
        long blocks = 0, hitBlocks = 0, hashedTokens = 0;
        var hashing = new Stopwatch();
        var keys = new BlockKey[requests.Max(r => r.Length) / hasher.TokensPerBlock + 1];
        foreach (var prompt in requests)
        {
            hashing.Start();
            var count = hasher.ComputeKeys(prompt, keys);
            hashing.Stop();
            hashedTokens += prompt.Length;
            blocks += count;
            // A block is usable only if every block before it is: stop at the first miss.
            var prefix = 0;
            while (prefix < count && cached.Contains(keys[prefix]))
            {
                prefix++;
            }

            hitBlocks += prefix;
            for (var i = prefix; i < count; i++)
            {
                cached.Add(keys[i]);
            }
        }

        return new ReplayResult(blocks, hitBlocks, hashedTokens / Math.Max(hashing.Elapsed.TotalSeconds, 1e-9));
    }

    private static string FormatBytes(long bytes) => bytes switch
    {
        >= 1L << 40 => $"{bytes / (double)(1L << 40):F1} TiB",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F1} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F1} MiB",
        _ => $"{bytes / 1024.0:F1} KiB",
    };

    private sealed record ReplayResult(long Blocks, long HitBlocks, double TokensPerSecond);
}
