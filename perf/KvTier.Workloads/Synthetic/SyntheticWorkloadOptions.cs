namespace KvTier.Workloads.Synthetic;

/// <summary>
/// Shape of a synthetic workload: how many requests, the mix of the four request kinds, and how much they share.
/// Sharing is set by <see cref="SharedPrefixes"/> (fewer distinct system prompts, tool sets and documents share
/// more) and <see cref="PopularitySkew"/> (a higher Zipf exponent concentrates requests on the popular ones).
/// </summary>
public sealed record SyntheticWorkloadOptions
{
    /// <summary>Requests to generate.</summary>
    public int Requests { get; init; } = 3000;

    /// <summary>Seed of every random choice; equal options give equal workloads.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Weight of one-shot requests behind a shared system prompt.</summary>
    public double SystemPromptWeight { get; init; } = 0.2;

    /// <summary>Weight of multi-turn chat sessions (each turn resends the whole history).</summary>
    public double ChatWeight { get; init; } = 0.4;

    /// <summary>Weight of document question answering (a long popular document, then a question).</summary>
    public double DocumentQaWeight { get; init; } = 0.2;

    /// <summary>Weight of agent loops (a shared tool specification, then steps that append actions and observations).</summary>
    public double AgentWeight { get; init; } = 0.2;

    /// <summary>Distinct system prompts and tool sets; documents are four times as many.</summary>
    public int SharedPrefixes { get; init; } = 8;

    /// <summary>Zipf exponent of prompt, tool-set and document popularity (0: uniform).</summary>
    public double PopularitySkew { get; init; } = 1.0;

    /// <summary>Span over which sessions start.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        if (Requests < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Requests), Requests, "A workload needs at least one request.");
        }

        double[] weights = [SystemPromptWeight, ChatWeight, DocumentQaWeight, AgentWeight];
        if (weights.Any(weight => weight < 0 || !double.IsFinite(weight)) || weights.Sum() <= 0)
        {
            throw new ArgumentException(
                $"Request-kind weights must be finite, non-negative and not all zero; got system-prompt {SystemPromptWeight}, chat {ChatWeight}, document-qa {DocumentQaWeight}, agent {AgentWeight}.");
        }

        if (SharedPrefixes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(SharedPrefixes), SharedPrefixes, "At least one shared prefix is needed.");
        }

        if (PopularitySkew < 0 || !double.IsFinite(PopularitySkew))
        {
            throw new ArgumentOutOfRangeException(nameof(PopularitySkew), PopularitySkew, "The Zipf exponent must be finite and >= 0.");
        }

        if (Duration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(Duration), Duration, "The duration must be positive.");
        }
    }
}
