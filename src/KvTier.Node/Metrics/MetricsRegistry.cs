using System.Text;

namespace KvTier.Node.Metrics;

/// <summary>
/// The node's Prometheus metrics: counters and gauges (optionally with one label), histograms with fixed buckets,
/// and gauges read from a callback at scrape time. Updates are lock-free; a scrape renders the text exposition
/// format (version 0.0.4).
/// </summary>
public sealed class MetricsRegistry
{
    private readonly Lock registrationLock = new();
    private readonly List<IMetric> metrics = [];

    /// <summary>Registers a monotonically increasing counter.</summary>
    public Counter Counter(string name, string help) => Register(new Counter(name, help));

    /// <summary>Registers a family of counters told apart by one label (for example tier="host").</summary>
    public LabeledCounter LabeledCounter(string name, string help, string label) => Register(new LabeledCounter(name, help, label));

    /// <summary>Registers a gauge whose value is read when scraped.</summary>
    public void Gauge(string name, string help, Func<double> read) => Register(new CallbackGauge(name, help, read));

    /// <summary>Registers a counter whose value is read when scraped (a monotonic count kept elsewhere, such as the
    /// storage engine's hit counts).</summary>
    public void CounterFrom(string name, string help, Func<double> read) => Register(new CallbackCounter(name, help, read));

    /// <summary>Registers a histogram with the given upper bucket bounds (ascending; +Inf is implied).</summary>
    public Histogram Histogram(string name, string help, params double[] upperBounds) => Register(new Histogram(name, help, upperBounds));

    /// <summary>Registers a metric that renders itself (families with several labels).</summary>
    internal void Add(IMetric metric) => Register(metric);

    /// <summary>Renders every metric in the Prometheus text format.</summary>
    public string Render()
    {
        var text = new StringBuilder(4096);
        IMetric[] snapshot;
        lock (registrationLock)
        {
            snapshot = [.. metrics];
        }

        foreach (var metric in snapshot)
        {
            metric.Render(text);
        }

        return text.ToString();
    }

    private T Register<T>(T metric)
        where T : IMetric
    {
        MetricNames.Validate(metric.Name);
        lock (registrationLock)
        {
            if (metrics.Any(m => m.Name == metric.Name))
            {
                throw new ArgumentException($"Metric '{metric.Name}' is already registered.", nameof(metric));
            }

            metrics.Add(metric);
        }

        return metric;
    }
}

/// <summary>Something the registry can render.</summary>
internal interface IMetric
{
    string Name { get; }

    void Render(StringBuilder text);
}

/// <summary>Prometheus naming and escaping rules.</summary>
internal static class MetricNames
{
    public static void Validate(string name)
    {
        if (string.IsNullOrEmpty(name) || !(char.IsAsciiLetter(name[0]) || name[0] is '_' or ':')
            || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or ':')))
        {
            throw new ArgumentException($"'{name}' is not a valid Prometheus metric name.", nameof(name));
        }
    }

    public static void WriteHead(StringBuilder text, string name, string help, string type) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\").Replace("\n", "\\n"))
            .Append('\n').Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    public static string EscapeLabelValue(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    public static string Format(double value) => double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : double.IsNaN(value) ? "NaN"
        : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
