namespace KvTier.Workloads;

/// <summary>
/// One request of a Mooncake-format trace: when it arrived, its prompt and output lengths in tokens, and the
/// chained ids of its 512-token prompt blocks (equal ids mean equal prefixes).
/// </summary>
/// <param name="LineNumber">1-based line in the trace file, for messages.</param>
/// <param name="TimestampMs">Arrival time in milliseconds from the trace start.</param>
/// <param name="InputLength">Prompt tokens.</param>
/// <param name="OutputLength">Generated tokens.</param>
/// <param name="HashIds">Block ids, one per started 512-token block of the prompt.</param>
public sealed record TraceRequest(int LineNumber, long TimestampMs, int InputLength, int OutputLength, long[] HashIds)
{
    /// <summary>Tokens per block in the Mooncake traces.</summary>
    public const int TokensPerBlock = 512;
}
