using System.Globalization;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>How the terminal summary and the HTML page write a figure; the HTML names the format of each cell, so
/// a test can check every cell against report.json.</summary>
public static class Figures
{
    /// <summary>Formats <paramref name="value"/>: "pct" (a ratio as percent), "int", "f1", "f2", "f3".</summary>
    public static string Format(double value, string format) => format switch
    {
        "pct" => (value * 100).ToString("F2", CultureInfo.InvariantCulture) + " %",
        "int" => value.ToString("N0", CultureInfo.InvariantCulture),
        "f1" => value.ToString("F1", CultureInfo.InvariantCulture),
        "f2" => value.ToString("F2", CultureInfo.InvariantCulture),
        "f3" => value.ToString("F3", CultureInfo.InvariantCulture),
        _ => throw new ArgumentException($"Unknown figure format '{format}'.", nameof(format)),
    };
}
