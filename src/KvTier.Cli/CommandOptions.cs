namespace KvTier.Cli;

/// <summary>Parses "--name value" options of one command and rejects unknown ones.</summary>
internal sealed class CommandOptions
{
    private readonly Dictionary<string, string> values = new(StringComparer.OrdinalIgnoreCase);

    public CommandOptions(string[] args, params string[] known)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (!name.StartsWith("--", StringComparison.Ordinal) || !known.Contains(name[2..], StringComparer.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"unknown option '{name}'. Known: {string.Join(", ", known.Select(k => "--" + k))}.");
            }

            if (i + 1 >= args.Length)
            {
                throw new ArgumentException($"option '{name}' needs a value.");
            }

            values[name[2..]] = args[++i];
        }
    }

    public string Get(string name, string fallback) => values.GetValueOrDefault(name, fallback);

    public int GetInt(string name, int fallback, int min, int max)
    {
        if (!values.TryGetValue(name, out var text))
        {
            return fallback;
        }

        return int.TryParse(text, out var value) && value >= min && value <= max
            ? value
            : throw new ArgumentException($"--{name} must be an integer in [{min}, {max}], got '{text}'.");
    }
}
