namespace KvTier.Workloads.Synthetic;

/// <summary>
/// Generates a Mooncake-format workload (chained 512-token block ids, partial last blocks) from four kinds of
/// sessions that start at random times over the options' duration and interleave as a server would see them:
/// <list type="bullet">
/// <item>system prompt: one request, a popular system prompt (1-4k tokens) plus a fresh question;</item>
/// <item>chat: a system prompt, then 2-12 turns, each resending the history with a new user message;</item>
/// <item>document QA: an instruction and a popular document (3-24k tokens), then 1-4 separate questions on it;</item>
/// <item>agent loop: a popular tool specification (2-6k tokens) and a task, then 3-15 steps that each append the
/// model's action and the tool's observation.</item>
/// </list>
/// Deterministic: equal options give equal requests.
/// </summary>
public static class SyntheticWorkload
{
    private const int SystemPromptKind = 0;
    private const int ChatKind = 1;
    private const int DocumentQaKind = 2;
    private const int AgentKind = 3;

    /// <summary>The workload's requests, in arrival order, numbered from 1.</summary>
    public static IReadOnlyList<TraceRequest> Generate(SyntheticWorkloadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var random = new Random(options.Seed);
        var nextSegment = 0L;
        PromptSegment NewSegment(int tokens) => new(nextSegment++, Math.Max(1, tokens));

        var systemPrompts = Enumerable.Range(0, options.SharedPrefixes).Select(_ => NewSegment(random.Next(1000, 4000))).ToArray();
        var toolSets = Enumerable.Range(0, options.SharedPrefixes).Select(_ => NewSegment(random.Next(2000, 6000))).ToArray();
        var documents = Enumerable.Range(0, options.SharedPrefixes * 4).Select(_ => NewSegment(random.Next(3000, 24000))).ToArray();
        var qaInstruction = NewSegment(200);
        var promptPopularity = new ZipfSampler(systemPrompts.Length, options.PopularitySkew);
        var documentPopularity = new ZipfSampler(documents.Length, options.PopularitySkew);
        double[] weights = [options.SystemPromptWeight, options.ChatWeight, options.DocumentQaWeight, options.AgentWeight];
        var totalWeight = weights.Sum();

        var pending = new List<(long TimestampMs, List<PromptSegment> Prompt, int Output)>();
        var durationMs = (long)options.Duration.TotalMilliseconds;
        while (pending.Count < options.Requests)
        {
            var time = (long)(random.NextDouble() * durationMs);
            switch (PickKind(random, weights, totalWeight))
            {
                case SystemPromptKind:
                    pending.Add((time, [systemPrompts[promptPopularity.Next(random)], NewSegment(random.Next(50, 800))], random.Next(50, 500)));
                    break;
                case ChatKind:
                    var history = new List<PromptSegment> { systemPrompts[promptPopularity.Next(random)] };
                    for (var turns = random.Next(2, 13); turns > 0; turns--)
                    {
                        history.Add(NewSegment(random.Next(50, 400)));
                        var answer = random.Next(100, 600);
                        pending.Add((time, [.. history], answer));
                        history.Add(NewSegment(answer));
                        time += (long)Exponential(random, 90_000);
                    }

                    break;
                case DocumentQaKind:
                    var document = documents[documentPopularity.Next(random)];
                    for (var questions = random.Next(1, 5); questions > 0; questions--)
                    {
                        pending.Add((time, [qaInstruction, document, NewSegment(random.Next(20, 200))], random.Next(50, 400)));
                        time += (long)Exponential(random, 60_000);
                    }

                    break;
                default:
                    var trajectory = new List<PromptSegment> { toolSets[promptPopularity.Next(random)], NewSegment(random.Next(100, 500)) };
                    for (var steps = random.Next(3, 16); steps > 0; steps--)
                    {
                        var action = random.Next(50, 300);
                        pending.Add((time, [.. trajectory], action));
                        trajectory.Add(NewSegment(action));
                        trajectory.Add(NewSegment(random.Next(200, 2000)));
                        time += (long)Exponential(random, 5_000);
                    }

                    break;
            }
        }

        // Arrival order; sessions that ran past the end are cut by the request count, not by time.
        var ordered = pending.Take(options.Requests).OrderBy(request => request.TimestampMs).ToList();
        var chains = new ChainedBlockIds();
        var requests = new List<TraceRequest>(ordered.Count);
        foreach (var (timestamp, prompt, output) in ordered)
        {
            var input = prompt.Sum(segment => segment.Tokens);
            requests.Add(new TraceRequest(requests.Count + 1, timestamp, input, output, chains.Of(prompt)));
        }

        return requests;
    }

    private static int PickKind(Random random, double[] weights, double total)
    {
        var pick = random.NextDouble() * total;
        for (var kind = 0; kind < weights.Length - 1; kind++)
        {
            if (pick < weights[kind])
            {
                return kind;
            }

            pick -= weights[kind];
        }

        return weights.Length - 1;
    }

    private static double Exponential(Random random, double mean) => -mean * Math.Log(1 - random.NextDouble());
}
