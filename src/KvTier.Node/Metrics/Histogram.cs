using System.Text;

namespace KvTier.Node.Metrics;

/// <summary>A distribution over fixed buckets (cumulative on render, as Prometheus expects), with sum and count.</summary>
public sealed class Histogram : IMetric
{
    private readonly double[] upperBounds;
    private readonly long[] bucketCounts;
    private readonly string help;
    private long count;
    private long sumBits;

    internal Histogram(string name, string help, double[] upperBounds)
    {
        if (upperBounds.Length == 0 || upperBounds.Zip(upperBounds.Skip(1)).Any(pair => pair.First >= pair.Second))
        {
            throw new ArgumentException($"Histogram '{name}' needs strictly ascending bucket bounds.", nameof(upperBounds));
        }

        Name = name;
        this.help = help;
        this.upperBounds = upperBounds;
        bucketCounts = new long[upperBounds.Length + 1];
    }

    /// <summary>Metric name.</summary>
    public string Name { get; }

    /// <summary>Observations so far.</summary>
    public long Count => Interlocked.Read(ref count);

    /// <summary>Records one observation.</summary>
    public void Observe(double value)
    {
        var bucket = Array.BinarySearch(upperBounds, value);
        bucket = bucket >= 0 ? bucket : ~bucket;
        Interlocked.Increment(ref bucketCounts[bucket]);
        Interlocked.Increment(ref count);
        long seen, updated;
        do
        {
            seen = Interlocked.Read(ref sumBits);
            updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
        }
        while (Interlocked.CompareExchange(ref sumBits, updated, seen) != seen);
    }

    void IMetric.Render(StringBuilder text)
    {
        MetricNames.WriteHead(text, Name, help, "histogram");
        long cumulative = 0;
        for (var i = 0; i <= upperBounds.Length; i++)
        {
            cumulative += Interlocked.Read(ref bucketCounts[i]);
            var bound = i < upperBounds.Length ? MetricNames.Format(upperBounds[i]) : "+Inf";
            text.Append(Name).Append("_bucket{le=\"").Append(bound).Append("\"} ").Append(cumulative).Append('\n');
        }

        text.Append(Name).Append("_sum ").Append(MetricNames.Format(BitConverter.Int64BitsToDouble(Interlocked.Read(ref sumBits)))).Append('\n');
        text.Append(Name).Append("_count ").Append(cumulative).Append('\n');
    }
}
