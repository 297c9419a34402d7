using System.Text.Json;
using System.Text.Json.Serialization;

namespace KvTier.PrefillSavings;

/// <summary>The JSON settings of report.json and the profiles file (camelCase, indented, enums as text).</summary>
public static class ReportJson
{
    /// <summary>Shared serializer options.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };
}
