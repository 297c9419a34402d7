using KvTier.KvCapture;

// Thin shell: parse the command line, call the capture or the evaluation.
var command = args.Length > 0 ? args[0] : "help";
string Option(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}

switch (command)
{
    case "capture":
        MiniLmCapture.Run(Option("--out", "artifacts/kv-capture"), int.Parse(Option("--tokens", "2048"),
            System.Globalization.CultureInfo.InvariantCulture), Option("--text", "/usr/share/common-licenses"),
            "dotnet run -c Release --project perf/KvTier.KvCapture -- " + string.Join(' ', args));
        return 0;
    case "evaluate":
        CodecEvaluation.Run(Option("--data", "tests/KvTier.Codecs.Tests/Fixtures/minilm"), int.Parse(Option("--block-tokens", "16"),
            System.Globalization.CultureInfo.InvariantCulture));
        return 0;
    case "speed":
        CodecSpeed.Run(Option("--data", "tests/KvTier.Codecs.Tests/Fixtures/minilm"), int.Parse(Option("--block-tokens", "16"),
            System.Globalization.CultureInfo.InvariantCulture), KvTier.Core.Layout.KvDataTypes.Parse(Option("--type", "bf16")));
        return 0;
    default:
        Console.WriteLine("""
            usage: KvTier.KvCapture capture [--out DIR] [--tokens N] [--text DIR]
                     run all-MiniLM-L6-v2 on the text files in DIR and write its K/V (bf16, fp16) and Q (bf16)
                   KvTier.KvCapture evaluate [--data DIR] [--block-tokens N]
                     ratio and error of every codec (and LZ4/zstd baselines) on a capture, as Markdown tables
                   KvTier.KvCapture speed [--data DIR] [--block-tokens N] [--type bf16|fp16]
                     best-of-7 encode/decode GB/s per core of every codec beside LZ4 and zstd
            """);
        return command == "help" ? 0 : 2;
}
