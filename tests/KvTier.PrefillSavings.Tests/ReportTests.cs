using System.Text.Json;
using System.Text.RegularExpressions;
using KvTier.PrefillSavings.Reporting;

namespace KvTier.PrefillSavings.Tests;

/// <summary>The report a user opens shows exactly the figures of report.json.</summary>
public sealed partial class ReportTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "kvtier-report-" + Guid.NewGuid().ToString("n"));

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Every_figure_in_the_html_page_equals_its_value_in_the_json()
    {
        var config = new SavingsConfig
        {
            Mode = "simulate",
            Synthetic = new() { Requests = 400, Seed = 9 },
            Capacities = ["5%", "20%"],
            SimulateNodes = [1, 3],
            OutputDirectory = directory,
        };

        var (report, index) = await SavingsJob.RunAsync(config, new ProgressLine(TextWriter.Null, inPlace: false), TestContext.Current.CancellationToken);

        // Eight workload figures, then ten per tier row (10 rows; the infinite row's two capacities are text).
        Assert.Equal(8 + (10 * 10) - 2, AssertPageMatchesJson(index));
        Assert.Equal(2 * 2 * 2, report.Simulation!.Results.Count);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(directory, "report.json")));
        Assert.Equal("simulate", json.RootElement.GetProperty("config").GetProperty("mode").GetString());
    }

    /// <summary>Checks every figure cell of the page against report.json beside it; returns how many there were.</summary>
    internal static int AssertPageMatchesJson(string indexPath)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(indexPath)!, "report.json")));
        var cells = FigureCell().Matches(File.ReadAllText(indexPath));
        foreach (Match cell in cells)
        {
            var (path, format, shown) = (cell.Groups["key"].Value, cell.Groups["format"].Value, System.Net.WebUtility.HtmlDecode(cell.Groups["text"].Value));
            Assert.Equal(Figures.Format(Resolve(json.RootElement, path).GetDouble(), format), shown);
        }

        return cells.Count;
    }

    [Fact]
    public async Task The_report_folder_holds_the_json_the_page_and_a_png_for_each_chart()
    {
        var config = new SavingsConfig { Mode = "simulate", Synthetic = new() { Requests = 200, Seed = 2 }, OutputDirectory = directory };

        var (_, index) = await SavingsJob.RunAsync(config, new ProgressLine(TextWriter.Null, inPlace: false), TestContext.Current.CancellationToken);

        var page = File.ReadAllText(index);
        foreach (var chart in new[] { "hit-ratio-over-time.png", "hit-ratio-vs-capacity.png", "bytes-moved.png" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(directory, chart));
            Assert.True(bytes.Length > 1000, $"{chart} is {bytes.Length} bytes");
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            Assert.Contains($"src=\"{chart}\"", page, StringComparison.Ordinal);
        }
    }

    private static JsonElement Resolve(JsonElement root, string path)
    {
        var element = root;
        foreach (var part in path.Split('.'))
        {
            var match = PathPart().Match(part);
            element = element.GetProperty(match.Groups["name"].Value);
            if (match.Groups["index"].Success)
            {
                element = element[int.Parse(match.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture)];
            }
        }

        return element;
    }

    [GeneratedRegex("<span data-key=\"(?<key>[^\"]+)\" data-format=\"(?<format>[^\"]+)\">(?<text>[^<]*)</span>")]
    private static partial Regex FigureCell();

    [GeneratedRegex(@"^(?<name>\w+)(\[(?<index>\d+)\])?$")]
    private static partial Regex PathPart();
}
