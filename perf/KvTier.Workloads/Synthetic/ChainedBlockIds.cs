namespace KvTier.Workloads.Synthetic;

/// <summary>
/// Gives prompts the chained block ids of the Mooncake traces without any token text: a prompt is a list of
/// segments (a system prompt, a document, a user turn), and block <c>k</c>'s id stands for everything from the
/// prompt's start to the end of block <c>k</c>. Two prompts get the same id for block <c>k</c> exactly when their
/// first <c>k + 1</c> blocks cover the same segment pieces, a partial last block included.
/// </summary>
public sealed class ChainedBlockIds
{
    private readonly Dictionary<(long Parent, ulong First, ulong Second), long> ids = [];

    /// <summary>Distinct block ids handed out so far.</summary>
    public int Count => ids.Count;

    /// <summary>The block ids of a prompt made of <paramref name="segments"/>, one per started block of
    /// <see cref="TraceRequest.TokensPerBlock"/> tokens.</summary>
    public long[] Of(IReadOnlyList<PromptSegment> segments)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var total = 0L;
        foreach (var segment in segments)
        {
            total += segment.Tokens;
        }

        const int block = TraceRequest.TokensPerBlock;
        var result = new long[(int)((total + block - 1) / block)];
        var parent = -1L;
        var segmentIndex = 0;
        var offsetInSegment = 0;
        for (var k = 0; k < result.Length; k++)
        {
            // Hash the (segment, start, length) pieces this block covers, with two independent 64-bit mixes.
            ulong first = 0x243F6A8885A308D3UL, second = 0x13198A2E03707344UL;
            var room = block;
            while (room > 0 && segmentIndex < segments.Count)
            {
                var segment = segments[segmentIndex];
                var take = Math.Min(room, segment.Tokens - offsetInSegment);
                first = Mix(first, (ulong)segment.Id, (ulong)offsetInSegment, (ulong)take);
                second = Mix(second ^ 0x9E3779B97F4A7C15UL, (ulong)segment.Id * 31, (ulong)offsetInSegment, (ulong)take);
                room -= take;
                offsetInSegment += take;
                if (offsetInSegment == segment.Tokens)
                {
                    segmentIndex++;
                    offsetInSegment = 0;
                }
            }

            var key = (parent, first, second);
            if (!ids.TryGetValue(key, out var id))
            {
                id = ids.Count;
                ids.Add(key, id);
            }

            result[k] = id;
            parent = id;
        }

        return result;
    }

    private static ulong Mix(ulong state, ulong a, ulong b, ulong c)
    {
        state = SplitMix(state ^ a);
        state = SplitMix(state ^ b);
        return SplitMix(state ^ c);
    }

    private static ulong SplitMix(ulong value)
    {
        value += 0x9E3779B97F4A7C15UL;
        value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9UL;
        value = (value ^ (value >> 27)) * 0x94D049BB133111EBUL;
        return value ^ (value >> 31);
    }
}

/// <summary>A run of tokens with one identity: equal ids mean equal text.</summary>
/// <param name="Id">Identity of the text (shared prompts reuse theirs).</param>
/// <param name="Tokens">Length in tokens (at least 1).</param>
public readonly record struct PromptSegment(long Id, int Tokens);
