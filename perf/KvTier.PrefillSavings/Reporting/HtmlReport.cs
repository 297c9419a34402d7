using System.Net;
using System.Text;

namespace KvTier.PrefillSavings.Reporting;

/// <summary>
/// The report's index.html: the figures of report.json in tables, and the charts. Every figure cell names the JSON
/// path it shows and its format (<c>data-key</c>, <c>data-format</c>), so the page can be checked against the JSON.
/// </summary>
internal static class HtmlReport
{
    public static string Render(SavingsReport report, IReadOnlyList<(string File, string Caption)> charts)
    {
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>KvTier prefill savings</title>");
        html.AppendLine("<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}" +
            "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}" +
            "figure{margin:1em 0}figcaption{color:#555}</style></head><body>");
        html.AppendLine("<h1>KvTier prefill savings</h1>");
        html.AppendLine($"<p>Generated {report.GeneratedUtc:u} on {Encode(report.Machine)}; mode <b>{Encode(report.Config.Mode)}</b>. " +
            "Every figure below is in <a href=\"report.json\">report.json</a>, with the exact configuration.</p>");

        var workload = report.Workload;
        html.AppendLine("<h2>Workload and assumptions</h2><table>");
        Row(html, "workload", Encode(workload.Name));
        Row(html, "requests", Cell("workload.requests", workload.Requests, "int"));
        Row(html, "block accesses (512 tokens)", Cell("workload.blockAccesses", workload.BlockAccesses, "int"));
        Row(html, "unique blocks", Cell("workload.uniqueBlocks", workload.UniqueBlocks, "int"));
        Row(html, "prompt tokens", Cell("workload.promptTokens", workload.PromptTokens, "int"));
        Row(html, "span (minutes)", Cell("workload.spanMinutes", workload.SpanMinutes, "f1"));
        Row(html, "model, KV bytes per 512-token block", $"{Encode(report.Config.Model)}, " + Cell("fullBlockBytes", report.FullBlockBytes, "int"));
        Row(html, $"prefill profile ({Encode(report.Profile.Gpu)} x{report.Profile.Gpus}, {Encode(report.Profile.Source)}), tokens/s",
            Cell("profile.prefillTokensPerSecond", report.Profile.PrefillTokensPerSecond, "int"));
        Row(html, "price per GPU-hour (USD)", Cell("profile.usdPerGpuHour", report.Profile.UsdPerGpuHour, "f2"));
        html.AppendLine("</table>");

        if (report.Simulation is { } simulation)
        {
            html.AppendLine("<h2>Simulate: the node's eviction and the client's placement, no bytes moved</h2>");
            html.AppendLine("<table><tr><th class=\"l\">tier</th><th>capacity (blocks)</th><th>capacity (GiB, full size)</th><th>block hit ratio</th>" +
                "<th>token hit ratio</th><th>prefill tokens saved</th><th>saved with GPU cache in front</th><th>GiB loaded</th><th>GiB stored</th>" +
                "<th>GPU-seconds saved</th><th>USD saved</th></tr>");
            TierRow(html, "simulation.infiniteBound", simulation.InfiniteBound);
            TierRow(html, "simulation.gpuOnlyBaseline", simulation.GpuOnlyBaseline);
            for (var index = 0; index < simulation.Results.Count; index++)
            {
                TierRow(html, $"simulation.results[{index}]", simulation.Results[index]);
            }

            html.AppendLine("</table><p>A block counts as a hit only inside a request's cached prefix. The GPU-only baseline is one replica's " +
                "prefix cache in GPU memory (LRU); \"with GPU cache in front\" takes, per request, the longer of its prefix and the tier's.</p>");
        }

        if (report.Replay is { } replay)
        {
            html.AppendLine($"<h2>Replay: {Encode(replay.Cluster)}</h2><table>");
            Row(html, "payload bytes per block (model bytes / scale factor)", Cell("replay.scaledBlockBytes", replay.ScaledBlockBytes, "int") +
                " (scale 1/" + Cell("replay.scaleFactor", replay.ScaleFactor, "int") + ")");
            Row(html, "requests replayed", Cell("replay.requests", replay.Requests, "int"));
            Row(html, "block hit ratio (replay)", Cell("replay.blockHitRatio", replay.BlockHitRatio, "pct"));
            Row(html, "block hit ratio (simulator, same capacity)", Cell("replay.simulatedBlockHitRatio", replay.SimulatedBlockHitRatio, "pct"));
            Row(html, "token hit ratio", Cell("replay.tokenHitRatio", replay.TokenHitRatio, "pct"));
            Row(html, "prefill tokens saved", Cell("replay.prefillTokensSaved", replay.PrefillTokensSaved, "int"));
            Row(html, "bytes verified / mismatched blocks", Cell("replay.verifiedBytes", replay.VerifiedBytes, "int") + " / " +
                Cell("replay.mismatchedBlocks", replay.MismatchedBlocks, "int"));
            Row(html, "blocks stored / already cached / failed", Cell("replay.storedBlocks", replay.StoredBlocks, "int") + " / " +
                Cell("replay.alreadyCachedBlocks", replay.AlreadyCachedBlocks, "int") + " / " + Cell("replay.failedStoreBlocks", replay.FailedStoreBlocks, "int"));
            Row(html, "GiB loaded / stored", Cell("replay.giBLoaded", replay.GiBLoaded, "f3") + " / " + Cell("replay.giBStored", replay.GiBStored, "f3"));
            Row(html, "load GB/s / store GB/s", Cell("replay.loadGBps", replay.LoadGBps, "f2") + " / " + Cell("replay.storeGBps", replay.StoreGBps, "f2"));
            Latency(html, "lookup latency (ms)", "replay.lookupMs", replay.LookupMs);
            Latency(html, "load latency (ms, scaled payloads)", "replay.loadMs", replay.LoadMs);
            Latency(html, "store latency (ms, scaled payloads)", "replay.storeMs", replay.StoreMs);
            Latency(html, "TTFT without the tier (ms, estimated)", "replay.ttftWithoutMs", replay.TtftWithoutMs);
            Latency(html, $"TTFT with the tier (ms, estimated, loads at {Figures.Format(replay.LinkGBps, "f1")} GB/s)", "replay.ttftWithMs", replay.TtftWithMs);
            Latency(html, "TTFT with the tier (ms, estimated, loads at the throughput measured here)", "replay.ttftWithMeasuredMs", replay.TtftWithMeasuredMs);
            Row(html, "requests whose load is slower than prefilling its tokens", Cell("replay.loadSlowerThanPrefill", replay.LoadSlowerThanPrefill, "int"));
            Row(html, "GPU-seconds saved", Cell("replay.gpuSecondsSaved", replay.GpuSecondsSaved, "f1"));
            Row(html, "USD saved", Cell("replay.usdSaved", replay.UsdSaved, "f2"));
            html.AppendLine("</table><p>TTFT with the tier = overhead + the uncached tokens' prefill + the load of the full-size bytes, " +
                "at the stated link throughput or at the throughput measured here (the measured load time x the scale factor); the load " +
                "is not overlapped with compute.</p>");
        }

        foreach (var (file, caption) in charts)
        {
            html.AppendLine($"<figure><img src=\"{Encode(file)}\" alt=\"{Encode(caption)}\" width=\"900\"><figcaption>{Encode(caption)}</figcaption></figure>");
        }

        html.AppendLine("</body></html>");
        return html.ToString();
    }

    private static void TierRow(StringBuilder html, string path, TierResult result)
    {
        html.Append($"<tr><td class=\"l\">{Encode(result.Label)}</td>");
        html.Append(result.CapacityBlocks is { } blocks ? "<td>" + Cell(path + ".capacityBlocks", blocks, "int") + "</td>" : "<td>unbounded</td>");
        html.Append(result.CapacityGiB is { } gib ? "<td>" + Cell(path + ".capacityGiB", gib, "f1") + "</td>" : "<td>unbounded</td>");
        html.Append("<td>" + Cell(path + ".blockHitRatio", result.BlockHitRatio, "pct") + "</td>");
        html.Append("<td>" + Cell(path + ".tokenHitRatio", result.TokenHitRatio, "pct") + "</td>");
        html.Append("<td>" + Cell(path + ".prefillTokensSaved", result.PrefillTokensSaved, "int") + "</td>");
        html.Append("<td>" + Cell(path + ".prefillTokensSavedWithGpuCache", result.PrefillTokensSavedWithGpuCache, "int") + "</td>");
        html.Append("<td>" + Cell(path + ".giBLoaded", result.GiBLoaded, "f1") + "</td>");
        html.Append("<td>" + Cell(path + ".giBStored", result.GiBStored, "f1") + "</td>");
        html.Append("<td>" + Cell(path + ".gpuSecondsSaved", result.GpuSecondsSaved, "f1") + "</td>");
        html.AppendLine("<td>" + Cell(path + ".usdSaved", result.UsdSaved, "f2") + "</td></tr>");
    }

    private static void Latency(StringBuilder html, string label, string path, LatencySummary summary) =>
        Row(html, label + " mean / p50 / p90 / p99", string.Join(" / ",
            Cell(path + ".mean", summary.Mean, "f2"), Cell(path + ".p50", summary.P50, "f2"),
            Cell(path + ".p90", summary.P90, "f2"), Cell(path + ".p99", summary.P99, "f2")));

    private static void Row(StringBuilder html, string label, string value) =>
        html.AppendLine($"<tr><th class=\"l\">{label}</th><td>{value}</td></tr>");

    private static string Cell(string path, double value, string format) =>
        $"<span data-key=\"{path}\" data-format=\"{format}\">{Encode(Figures.Format(value, format))}</span>";

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}
