using System.Diagnostics;
using System.Text;
using KvTier.Transport;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Metrics;

/// <summary>
/// Per-opcode request metrics of the data plane, fed by the <see cref="FrameServer"/> once per answered request:
/// a latency histogram (<c>kvtier_data_plane_request_seconds{opcode}</c>, from the header's arrival to the answer's
/// last byte written), requests by opcode and status (<c>kvtier_data_plane_requests_total{opcode,status}</c>), and
/// bytes received and sent (<c>kvtier_data_plane_received_bytes_total{opcode}</c>,
/// <c>kvtier_data_plane_sent_bytes_total{opcode}</c>, headers included). Every cell is preallocated and updated with
/// interlocked operations, so recording allocates nothing.
/// </summary>
public sealed class DataPlaneRequestMetrics : IFrameRequestObserver
{
    /// <summary>Upper bounds in seconds: 50 µs (a ping on loopback) to 5 s (a large batch over a slow link).</summary>
    public static readonly double[] LatencyBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private static readonly Opcode[] Opcodes = Enum.GetValues<Opcode>();
    private static readonly FrameStatus[] Statuses = Enum.GetValues<FrameStatus>();
    private static readonly int[] OpcodeIndex = IndexOf(Opcodes.Select(o => (int)o));
    private static readonly int[] StatusIndex = IndexOf(Statuses.Select(s => (int)s));

    private readonly long[] buckets = new long[Opcodes.Length * (LatencyBuckets.Length + 1)];
    private readonly long[] sumBits = new long[Opcodes.Length];
    private readonly long[] requests = new long[Opcodes.Length * Statuses.Length];
    private readonly long[] received = new long[Opcodes.Length];
    private readonly long[] sent = new long[Opcodes.Length];

    /// <summary>Registers the four metric families in <paramref name="registry"/>.</summary>
    public static DataPlaneRequestMetrics Register(MetricsRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var metrics = new DataPlaneRequestMetrics();
        registry.Add(new Family("kvtier_data_plane_request_seconds", "Data-plane request latency, header arrival to answer written.", metrics.RenderLatency));
        registry.Add(new Family("kvtier_data_plane_requests_total", "Data-plane requests answered, by opcode and frame status.", metrics.RenderRequests));
        registry.Add(new Family("kvtier_data_plane_received_bytes_total", "Data-plane request bytes received, headers included.",
            text => RenderBytes(text, "kvtier_data_plane_received_bytes_total", metrics.received)));
        registry.Add(new Family("kvtier_data_plane_sent_bytes_total", "Data-plane response bytes sent, headers included.",
            text => RenderBytes(text, "kvtier_data_plane_sent_bytes_total", metrics.sent)));
        return metrics;
    }

    /// <inheritdoc/>
    public void RequestAnswered(Opcode opcode, FrameStatus status, long requestBytes, long responseBytes, long startTimestamp)
    {
        var o = OpcodeIndex[(int)opcode];
        var s = (int)status < StatusIndex.Length ? StatusIndex[(int)status] : -1;
        if (o < 0 || s < 0)
        {
            return;
        }

        var seconds = Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds;
        var bucket = Array.BinarySearch(LatencyBuckets, seconds);
        bucket = bucket >= 0 ? bucket : ~bucket;
        Interlocked.Increment(ref buckets[(o * (LatencyBuckets.Length + 1)) + bucket]);
        Interlocked.Increment(ref requests[(o * Statuses.Length) + s]);
        Interlocked.Add(ref received[o], requestBytes);
        Interlocked.Add(ref sent[o], responseBytes);
        long seen, updated;
        do
        {
            seen = Interlocked.Read(ref sumBits[o]);
            updated = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + seconds);
        }
        while (Interlocked.CompareExchange(ref sumBits[o], updated, seen) != seen);
    }

    private static int[] IndexOf(IEnumerable<int> values)
    {
        var index = new int[256];
        Array.Fill(index, -1);
        var i = 0;
        foreach (var value in values)
        {
            index[value] = i++;
        }

        return index;
    }

    private void RenderLatency(StringBuilder text)
    {
        const string name = "kvtier_data_plane_request_seconds";
        for (var o = 0; o < Opcodes.Length; o++)
        {
            long cumulative = 0;
            var row = o * (LatencyBuckets.Length + 1);
            var total = 0L;
            for (var b = 0; b <= LatencyBuckets.Length; b++)
            {
                total += Interlocked.Read(ref buckets[row + b]);
            }

            if (total == 0)
            {
                continue;
            }

            var opcode = Opcodes[o].ToString();
            for (var b = 0; b <= LatencyBuckets.Length; b++)
            {
                cumulative += Interlocked.Read(ref buckets[row + b]);
                var bound = b < LatencyBuckets.Length ? MetricNames.Format(LatencyBuckets[b]) : "+Inf";
                text.Append(name).Append("_bucket{opcode=\"").Append(opcode).Append("\",le=\"").Append(bound).Append("\"} ").Append(cumulative).Append('\n');
            }

            text.Append(name).Append("_sum{opcode=\"").Append(opcode).Append("\"} ")
                .Append(MetricNames.Format(BitConverter.Int64BitsToDouble(Interlocked.Read(ref sumBits[o])))).Append('\n');
            text.Append(name).Append("_count{opcode=\"").Append(opcode).Append("\"} ").Append(cumulative).Append('\n');
        }
    }

    private void RenderRequests(StringBuilder text)
    {
        for (var o = 0; o < Opcodes.Length; o++)
        {
            for (var s = 0; s < Statuses.Length; s++)
            {
                var value = Interlocked.Read(ref requests[(o * Statuses.Length) + s]);
                if (value != 0)
                {
                    text.Append("kvtier_data_plane_requests_total{opcode=\"").Append(Opcodes[o].ToString()).Append("\",status=\"")
                        .Append(Statuses[s].ToString()).Append("\"} ").Append(value).Append('\n');
                }
            }
        }
    }

    private static void RenderBytes(StringBuilder text, string name, long[] values)
    {
        for (var o = 0; o < Opcodes.Length; o++)
        {
            var value = Interlocked.Read(ref values[o]);
            if (value != 0)
            {
                text.Append(name).Append("{opcode=\"").Append(Opcodes[o].ToString()).Append("\"} ").Append(value).Append('\n');
            }
        }
    }

    /// <summary>One metric family rendered from the shared cells.</summary>
    private sealed class Family(string name, string help, Action<StringBuilder> render) : IMetric
    {
        public string Name { get; } = name;

        public void Render(StringBuilder text)
        {
            var type = Name.EndsWith("_seconds", StringComparison.Ordinal) ? "histogram" : "counter";
            MetricNames.WriteHead(text, Name, help, type);
            render(text);
        }
    }
}
