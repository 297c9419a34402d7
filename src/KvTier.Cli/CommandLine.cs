namespace KvTier.Cli;

/// <summary>Dispatches "kvtier COMMAND [options]" to a command; prints usage and clear errors.</summary>
internal static class CommandLine
{
    private static readonly Dictionary<string, (string Summary, Func<string[], int> Run)> Commands =
        new(StringComparer.OrdinalIgnoreCase)
        {
            ["savings"] = ("prefill-savings job: simulate and replay a workload (synthetic, or --trace FILE), report with charts", SavingsCommand.Run),
            ["demo"] = ("hash a synthetic chat workload into block keys and report the prefill a prefix cache saves", PrefixSharingDemo.Run),
            ["layouts"] = ("print the KV sizes of the built-in model presets", LayoutsCommand.Run),
        };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage();
            return args.Length == 0 ? 2 : 0;
        }

        if (!Commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"error: unknown command '{args[0]}'.");
            PrintUsage();
            return 2;
        }

        try
        {
            return command.Run(args[1..]);
        }
        catch (Exception error) when (error is ArgumentException or FormatException or InvalidDataException or IOException)
        {
            Console.Error.WriteLine($"error: {error.Message}");
            return 1;
        }
    }

    private static void PrintUsage()
    {
        Console.Error.WriteLine("usage: kvtier COMMAND [options]");
        foreach (var (name, (summary, _)) in Commands)
        {
            Console.Error.WriteLine($"  {name,-10} {summary}");
        }
    }
}
