using System.Text.Json;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>Writes report.json, the charts and index.html into the output folder.</summary>
public static class ReportWriter
{
    /// <summary>Writes the report; returns the path of index.html.</summary>
    public static string Write(SavingsReport report, string directory)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(directory);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "report.json"), JsonSerializer.Serialize(report, ReportJson.Options));
        var charts = Charts.Write(report, directory);
        var index = Path.Combine(directory, "index.html");
        File.WriteAllText(index, HtmlReport.Render(report, charts));
        return Path.GetFullPath(index);
    }
}
