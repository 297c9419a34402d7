namespace KvTier.Cli;

/// <summary>Multi-turn chat sessions over a few shared system prompts; each request carries the whole history.</summary>
internal static class SyntheticChat
{
    public static IReadOnlyList<int[]> Generate(int sessions, int vocabularySize, int seed)
    {
        var random = new Random(seed);
        var systemPrompts = Enumerable.Range(0, 4).Select(_ => RandomTokens(random, random.Next(1000, 3000), vocabularySize)).ToArray();
        var histories = Enumerable.Range(0, sessions)
            .Select(_ => new List<int>(systemPrompts[random.Next(systemPrompts.Length)]))
            .ToArray();
        var turnsLeft = Enumerable.Range(0, sessions).Select(_ => random.Next(1, 9)).ToArray();
        var requests = new List<int[]>();
        // Interleave sessions the way a server sees them: one turn of each live session per round.
        for (var round = 0; turnsLeft.Any(t => t > 0); round++)
        {
            for (var s = 0; s < sessions; s++)
            {
                if (turnsLeft[s] == 0)
                {
                    continue;
                }

                histories[s].AddRange(RandomTokens(random, random.Next(50, 400), vocabularySize)); // user message
                requests.Add([.. histories[s]]);
                histories[s].AddRange(RandomTokens(random, random.Next(100, 600), vocabularySize)); // model answer
                turnsLeft[s]--;
            }
        }

        return requests;
    }

    private static int[] RandomTokens(Random random, int count, int vocabularySize) =>
        Enumerable.Range(0, count).Select(_ => random.Next(vocabularySize)).ToArray();
}
