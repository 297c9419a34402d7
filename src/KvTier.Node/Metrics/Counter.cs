using System.Collections.Concurrent;
using System.Text;

namespace KvTier.Node.Metrics;

/// <summary>A monotonically increasing count.</summary>
public sealed class Counter : IMetric
{
    private long value;

    internal Counter(string name, string help)
    {
        Name = name;
        Help = help;
    }

    /// <summary>Metric name.</summary>
    public string Name { get; }

    /// <summary>Current value.</summary>
    public long Value => Interlocked.Read(ref value);

    private string Help { get; }

    /// <summary>Adds one.</summary>
    public void Increment() => Interlocked.Increment(ref value);

    /// <summary>Adds a non-negative amount.</summary>
    public void Add(long amount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        Interlocked.Add(ref value, amount);
    }

    void IMetric.Render(StringBuilder text)
    {
        MetricNames.WriteHead(text, Name, Help, "counter");
        text.Append(Name).Append(' ').Append(Value).Append('\n');
    }
}

/// <summary>Counters of one family told apart by the value of one label.</summary>
public sealed class LabeledCounter : IMetric
{
    private readonly ConcurrentDictionary<string, StrongBox> values = new(StringComparer.Ordinal);
    private readonly string label;
    private readonly string help;

    internal LabeledCounter(string name, string help, string label)
    {
        MetricNames.Validate(label);
        Name = name;
        this.help = help;
        this.label = label;
    }

    /// <summary>Metric name.</summary>
    public string Name { get; }

    /// <summary>Adds <paramref name="amount"/> to the counter labelled <paramref name="labelValue"/>.</summary>
    public void Add(string labelValue, long amount = 1)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        Interlocked.Add(ref values.GetOrAdd(labelValue, static _ => new StrongBox()).Value, amount);
    }

    /// <summary>Current value for one label value (0 when never touched).</summary>
    public long Get(string labelValue) => values.TryGetValue(labelValue, out var box) ? Interlocked.Read(ref box.Value) : 0;

    void IMetric.Render(StringBuilder text)
    {
        MetricNames.WriteHead(text, Name, help, "counter");
        foreach (var (labelValue, box) in values.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            text.Append(Name).Append('{').Append(label).Append("=\"").Append(MetricNames.EscapeLabelValue(labelValue))
                .Append("\"} ").Append(Interlocked.Read(ref box.Value)).Append('\n');
        }
    }

    private sealed class StrongBox
    {
        public long Value;
    }
}

/// <summary>A value sampled from the node's state when scraped (arena use, open connections, ...).</summary>
internal sealed class CallbackGauge(string name, string help, Func<double> read) : IMetric
{
    public string Name { get; } = name;

    public void Render(StringBuilder text)
    {
        MetricNames.WriteHead(text, Name, help, "gauge");
        text.Append(Name).Append(' ').Append(MetricNames.Format(read())).Append('\n');
    }
}
