using KvTier.Core.Layout;

namespace KvTier.Cli;

/// <summary>"kvtier layouts": what one token and one block of each preset model cost in memory.</summary>
internal static class LayoutsCommand
{
    public static int Run(string[] args)
    {
        var options = new CommandOptions(args, "dtype", "tokens-per-block");
        var dataType = KvDataTypes.Parse(options.Get("dtype", "bf16"));
        var tokensPerBlock = options.GetInt("tokens-per-block", 16, 1, KvLayout.MaxTokensPerBlock);
        Console.WriteLine($"{"preset",-12} {"layers",6} {"kv heads",8} {"head dim",8} {"KiB/token",10} {"KiB/chunk",10} {"MiB/block",10}");
        foreach (var preset in ModelPresets.All)
        {
            var layout = preset.ToLayout(dataType, tokensPerBlock);
            Console.WriteLine($"{preset.Name,-12} {layout.Layers,6} {layout.KvHeads,8} {layout.HeadDim,8} " +
                $"{layout.BytesPerToken / 1024.0,10:F1} {layout.BytesPerLayerChunk / 1024.0,10:F1} {layout.BytesPerBlock / 1048576.0,10:F2}");
        }

        Console.WriteLine($"({dataType.Name()}, {tokensPerBlock} tokens per block, one tensor-parallel rank)");
        return 0;
    }
}
