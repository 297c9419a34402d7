using System.Globalization;

namespace KvTier.PrefillSavings.Simulation;

/// <summary>Parses a tier capacity: "10%" of the workload's unique blocks, "64GiB" (or MiB, TiB) of full-size blocks,
/// or a plain block count.</summary>
internal static class CapacitySpec
{
    public static long ToBlocks(string text, int uniqueBlocks, long bytesPerBlock)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        long blocks;
        if (trimmed.EndsWith('%') && double.TryParse(trimmed[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) && percent > 0)
        {
            blocks = (long)Math.Round(uniqueBlocks * percent / 100);
        }
        else if (TryBytes(trimmed, out var bytes))
        {
            blocks = bytes / bytesPerBlock;
        }
        else if (!long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out blocks))
        {
            throw new ArgumentException($"Capacity '{text}' is not a share (\"10%\"), a size (\"64GiB\") or a block count.");
        }

        return blocks >= 1
            ? blocks
            : throw new ArgumentException($"Capacity '{text}' is less than one block ({bytesPerBlock:N0} bytes, {uniqueBlocks:N0} unique blocks).");
    }

    private static bool TryBytes(string text, out long bytes)
    {
        foreach (var (suffix, shift) in new[] { ("TiB", 40), ("GiB", 30), ("MiB", 20) })
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount > 0)
            {
                bytes = (long)(amount * (1L << shift));
                return true;
            }
        }

        bytes = 0;
        return false;
    }
}
