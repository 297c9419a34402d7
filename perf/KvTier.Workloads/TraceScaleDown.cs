namespace KvTier.Workloads;

/// <summary>
/// Makes a trace fit a small machine: keep only the first <see cref="FirstRequests"/> requests, keep each of those
/// with probability <see cref="SampleFraction"/> (seeded, so runs repeat; dropping requests also drops the prefixes
/// they would have shared, so hit ratios fall), and divide timestamps by <see cref="TimeCompression"/>.
/// </summary>
public sealed record TraceScaleDown
{
    /// <summary>Most requests to read from the start of the trace (0: all).</summary>
    public int FirstRequests { get; init; }

    /// <summary>Share of requests kept, in (0, 1].</summary>
    public double SampleFraction { get; init; } = 1;

    /// <summary>Timestamps are divided by this (1: real time; 10: ten times faster).</summary>
    public double TimeCompression { get; init; } = 1;

    /// <summary>Seed of the sampling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Whether this changes nothing.</summary>
    public bool IsIdentity => FirstRequests == 0 && SampleFraction == 1 && TimeCompression == 1;

    /// <summary>Applies the scale-down lazily (streaming); line numbers stay those of the source.</summary>
    public IEnumerable<TraceRequest> Apply(IEnumerable<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        Validate();
        return ApplyCore(requests);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (FirstRequests < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(FirstRequests), FirstRequests, "The request limit cannot be negative (0 means all).");
        }

        if (SampleFraction is <= 0 or > 1 || double.IsNaN(SampleFraction))
        {
            throw new ArgumentOutOfRangeException(nameof(SampleFraction), SampleFraction, "The sample fraction must lie in (0, 1].");
        }

        if (TimeCompression <= 0 || !double.IsFinite(TimeCompression))
        {
            throw new ArgumentOutOfRangeException(nameof(TimeCompression), TimeCompression, "The time compression must be a positive number.");
        }
    }

    private IEnumerable<TraceRequest> ApplyCore(IEnumerable<TraceRequest> requests)
    {
        var random = new Random(Seed);
        var read = 0;
        foreach (var request in requests)
        {
            if (FirstRequests > 0 && read++ >= FirstRequests)
            {
                yield break;
            }

            if (SampleFraction < 1 && random.NextDouble() >= SampleFraction)
            {
                continue;
            }

            yield return TimeCompression == 1 ? request : request with { TimestampMs = (long)(request.TimestampMs / TimeCompression) };
        }
    }
}
