using System.Text;

namespace KvTier.Node.Metrics;

/// <summary>A monotonic count kept by another component, read when scraped.</summary>
internal sealed class CallbackCounter(string name, string help, Func<double> read) : IMetric
{
    public string Name { get; } = name;

    public void Render(StringBuilder text)
    {
        MetricNames.WriteHead(text, Name, help, "counter");
        text.Append(Name).Append(' ').Append(MetricNames.Format(read())).Append('\n');
    }
}
