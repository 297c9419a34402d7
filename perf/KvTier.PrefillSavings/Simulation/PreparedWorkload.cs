using KvTier.Core;
using KvTier.Workloads;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>
/// A workload read once into arrays the simulator and the replayer walk many times: each request's blocks as dense
/// ids (0..UniqueBlocks-1), its prompt length and arrival time. Dense ids keep the eviction policies' per-item
/// arrays small; <see cref="KeyOf"/> turns one back into the block key the client would use.
/// </summary>
public sealed class PreparedWorkload
{
    /// <summary>Low half of every block key: the trace's ids are only unique within one workload.</summary>
    public const ulong KeySalt = 0x6b76_7469_6572_7073;

    private PreparedWorkload(string name, List<TraceRequest> requests, long[] traceIds, int[][] blocks)
    {
        Name = name;
        Requests = requests;
        TraceIds = traceIds;
        Blocks = blocks;
        TotalBlocks = blocks.Sum(chain => (long)chain.Length);
        TotalTokens = requests.Sum(request => (long)request.InputLength);
        SpanMs = requests.Count == 0 ? 0 : requests[^1].TimestampMs - requests[0].TimestampMs;
    }

    /// <summary>Where the workload came from (a file name or the synthetic generator's settings).</summary>
    public string Name { get; }

    /// <summary>The requests, in arrival order.</summary>
    public IReadOnlyList<TraceRequest> Requests { get; }

    /// <summary>Each request's blocks as dense ids.</summary>
    public IReadOnlyList<int[]> Blocks { get; }

    /// <summary>Distinct blocks.</summary>
    public int UniqueBlocks => TraceIds.Length;

    /// <summary>Block accesses (sum of every request's block count).</summary>
    public long TotalBlocks { get; }

    /// <summary>Prompt tokens.</summary>
    public long TotalTokens { get; }

    /// <summary>Milliseconds from the first arrival to the last.</summary>
    public long SpanMs { get; }

    private long[] TraceIds { get; }

    /// <summary>Reads <paramref name="requests"/> (streaming; a bad line fails with its line number).</summary>
    public static PreparedWorkload From(string name, IEnumerable<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var dense = new Dictionary<long, int>();
        var traceIds = new List<long>();
        var list = new List<TraceRequest>();
        var blocks = new List<int[]>();
        foreach (var request in requests)
        {
            var chain = new int[request.HashIds.Length];
            for (var i = 0; i < chain.Length; i++)
            {
                if (!dense.TryGetValue(request.HashIds[i], out var id))
                {
                    id = traceIds.Count;
                    dense.Add(request.HashIds[i], id);
                    traceIds.Add(request.HashIds[i]);
                }

                chain[i] = id;
            }

            list.Add(request);
            blocks.Add(chain);
        }

        if (list.Count == 0)
        {
            throw new ArgumentException($"Workload '{name}' has no requests (after scale-down).", nameof(requests));
        }

        return new PreparedWorkload(name, list, [.. traceIds], [.. blocks]);
    }

    /// <summary>Prompt tokens in block <paramref name="index"/> of request <paramref name="request"/> (the last block is
    /// usually partial).</summary>
    public int TokensOf(int request, int index)
    {
        var chain = Blocks[request];
        return index < chain.Length - 1
            ? TraceRequest.TokensPerBlock
            : Requests[request].InputLength - (TraceRequest.TokensPerBlock * (chain.Length - 1));
    }

    /// <summary>The block key of dense block <paramref name="block"/>: the trace's id, salted.</summary>
    public BlockKey KeyOf(int block) => new((ulong)TraceIds[block] + 1, KeySalt);
}
