using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using KvTier.Node.Configuration;
using Microsoft.Extensions.Configuration;

namespace KvTier.Node.Daemon;

/// <summary>
/// Builds <see cref="NodeOptions"/> from defaults &lt; JSON file (--config PATH or KVTIER_NODE_CONFIG) &lt;
/// environment (KVTIER_NODE_ prefix, "__" between levels) &lt; command line (--Section:Key value, or a short switch).
/// Every unknown key and every value that does not parse is reported, then <see cref="NodeOptionsValidator"/> runs.
/// </summary>
internal static class NodeConfiguration
{
    public const string EnvironmentPrefix = "KVTIER_NODE_";
    public const string ConfigFileVariable = "KVTIER_NODE_CONFIG";

    /// <summary>Short switches operators type often.</summary>
    public static readonly IReadOnlyDictionary<string, string> Switches = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["--node-id"] = "NodeId",
        ["--advertise"] = "AdvertiseAddress",
        ["--host"] = "DataPlane:Host",
        ["--port"] = "DataPlane:Port",
        ["--control-port"] = "ControlPlane:Port",
        ["--http-port"] = "Http:Port",
        ["--arena-size"] = "Storage:ArenaSize",
        ["--nvme-dir"] = "Storage:NvmeDirectory",
        ["--shm-dir"] = "SharedMemory:Directory",
        ["--nvme-size"] = "Storage:NvmeSize",
        ["--directory"] = "Directory:Kind",
        ["--redis"] = "Directory:Redis",
        ["--drain-timeout"] = "Timing:DrainTimeout",
        ["--tls-cert"] = "Tls:CertificateFile",
        ["--tls-key"] = "Tls:KeyFile",
        ["--tls-client-ca"] = "Tls:ClientCaFile",
        ["--tokens-file"] = "Auth:TokensFile",
        ["--rdma-device"] = "Rdma:Device",
    };

    /// <summary>The options, or every problem found (unknown keys, unparsable values, failed validation).</summary>
    public static (NodeOptions? Options, IReadOnlyList<string> Problems) Load(string[] args, IDictionary environment)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(environment);
        var problems = new List<string>();
        var (configPath, rest) = TakeConfigPath(args, environment, problems);
        var builder = new ConfigurationBuilder();
        if (configPath is not null)
        {
            if (!File.Exists(configPath))
            {
                problems.Add($"Config file '{configPath}' does not exist.");
                return (null, problems);
            }

            builder.AddJsonFile(Path.GetFullPath(configPath), optional: false, reloadOnChange: false);
        }

        var fromEnvironment = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in environment)
        {
            var name = (string)entry.Key;
            if (name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase) && !name.Equals(ConfigFileVariable, StringComparison.OrdinalIgnoreCase))
            {
                fromEnvironment[name[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal)] = entry.Value as string;
            }
        }

        builder.AddInMemoryCollection(fromEnvironment);
        try
        {
            builder.AddCommandLine(rest, Switches.ToDictionary(pair => pair.Key, pair => pair.Value));
            var configuration = builder.Build();
            var options = new NodeOptions();
            var leaves = configuration.AsEnumerable(makePathsRelative: true).Where(pair => pair.Value is not null).ToList();
            foreach (var (key, value) in leaves)
            {
                Apply(options, key, value!, problems);
            }

            if (configuration["Directory:Redis"] is { Length: > 0 } && configuration["Directory:Kind"] is null)
            {
                options.Directory.Kind = "redis"; // --redis alone means "use this Redis"
            }

            // Validate even after parse errors (unparsed settings keep their defaults), so one run lists everything.
            problems.AddRange(NodeOptionsValidator.Validate(options));
            return (problems.Count == 0 ? options : null, problems);
        }
        catch (Exception error) when (error is FormatException or InvalidDataException or IOException)
        {
            problems.Add(error.Message + (error.InnerException is null ? "" : " " + error.InnerException.Message));
            return (null, problems);
        }
    }

    /// <summary>Every settable key of <see cref="NodeOptions"/>, as "Section:Key".</summary>
    public static IEnumerable<string> KnownKeys() => Leaves(typeof(NodeOptions), "").Select(leaf => leaf.Path);

    private static (string? Path, string[] Remaining) TakeConfigPath(string[] args, IDictionary environment, List<string> problems)
    {
        var rest = new List<string>();
        string? path = environment[ConfigFileVariable] as string;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "--config" or "-c")
            {
                if (i + 1 >= args.Length)
                {
                    problems.Add("--config needs a file path.");
                    continue;
                }

                path = args[++i];
            }
            else if (args[i].StartsWith("--config=", StringComparison.Ordinal))
            {
                path = args[i]["--config=".Length..];
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        return (string.IsNullOrWhiteSpace(path) ? null : path, [.. rest]);
    }

    private static void Apply(NodeOptions options, string key, string value, List<string> problems)
    {
        object target = options;
        var parts = key.Split(':');
        for (var i = 0; i < parts.Length; i++)
        {
            var property = target.GetType().GetProperty(parts[i], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || !property.CanWrite)
            {
                problems.Add($"Unknown setting '{key}' (known settings: {string.Join(", ", KnownKeys())}).");
                return;
            }

            if (i < parts.Length - 1)
            {
                if (IsLeaf(property.PropertyType))
                {
                    problems.Add($"Unknown setting '{key}': '{string.Join(':', parts[..(i + 1)])}' is a value, not a section.");
                    return;
                }

                target = property.GetValue(target)!;
                continue;
            }

            if (!IsLeaf(property.PropertyType))
            {
                problems.Add($"Setting '{key}' is a section; set its keys ({string.Join(", ", Leaves(property.PropertyType, key + ":").Select(l => l.Path))}).");
                return;
            }

            try
            {
                var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                var converted = type == typeof(string) ? value : TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
                property.SetValue(target, converted);
            }
            catch (Exception error) when (error is FormatException or ArgumentException or NotSupportedException or OverflowException
                                          || error.InnerException is FormatException or OverflowException)
            {
                problems.Add($"Setting '{key}' has value '{value}', which is not a valid {Describe(property.PropertyType)}: {(error.InnerException ?? error).Message}");
            }
        }
    }

    private static string Describe(Type type) => type == typeof(TimeSpan) ? "duration (hh:mm:ss, e.g. 00:00:30)"
        : type == typeof(int) ? "integer"
        : type == typeof(bool) ? "boolean (true or false)"
        : type == typeof(ByteSize) ? "size (e.g. 512MiB, 8GiB)"
        : type.Name;

    private static bool IsLeaf(Type type) =>
        type.IsValueType || type == typeof(string) || Nullable.GetUnderlyingType(type) is not null;

    private static IEnumerable<(string Path, Type Type)> Leaves(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            if (IsLeaf(property.PropertyType))
            {
                yield return (prefix + property.Name, property.PropertyType);
            }
            else
            {
                foreach (var leaf in Leaves(property.PropertyType, prefix + property.Name + ":"))
                {
                    yield return leaf;
                }
            }
        }
    }

    internal static string FormatProblems(IReadOnlyList<string> problems) =>
        "kvtier-node: invalid configuration:" + Environment.NewLine
        + string.Join(Environment.NewLine, problems.Select(problem => "  " + problem)) + Environment.NewLine;

    internal static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
