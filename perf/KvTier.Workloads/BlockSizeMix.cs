namespace KvTier.Workloads;

/// <summary>
/// A mix of encoded KV block sizes for allocator and footprint studies: 15 % around 64 KiB (small models, short
/// blocks), 30 % around 512 KiB, 50 % around 2 MiB (512-token blocks of 7-8B models after lossless compression),
/// 5 % around 4 MiB; each spread by -40 %..+30 % because compression ratios vary block to block.
/// </summary>
public static class BlockSizeMix
{
    /// <summary>Draws <paramref name="count"/> sizes in bytes.</summary>
    public static int[] Draw(Random random, int count)
    {
        ArgumentNullException.ThrowIfNull(random);
        var sizes = new int[count];
        for (var index = 0; index < count; index++)
        {
            var pick = random.NextDouble();
            var center = pick < 0.15 ? 64 << 10 : pick < 0.45 ? 512 << 10 : pick < 0.95 ? 2 << 20 : 4 << 20;
            sizes[index] = (int)(center * (0.6 + (0.7 * random.NextDouble())));
        }

        return sizes;
    }
}
