using System.IO.Hashing;
using KvTier.Core.Hashing;

namespace KvTier.Core.Tests;

public sealed class CopyAndChecksumTests
{
    [Fact]
    public void The_fused_copy_matches_xxh3_and_copies_every_byte_for_many_lengths()
    {
        var random = new Random(17);
        int[] edges = [1, 16, 17, 128, 240, 241, 255, 256, 1023, 1024, 1025, 1088, 2047, 2048, 2049, 4096, 65536, 65537, 2 << 20];
        foreach (var length in edges.Concat(Enumerable.Range(0, 200).Select(_ => random.Next(1, 300_000))))
        {
            var source = new byte[length];
            random.NextBytes(source);
            var destination = new byte[length + 64];

            var checksum = CopyAndChecksum.Copy(source, destination);

            Assert.Equal(XxHash3.HashToUInt64(source), checksum);
            Assert.True(destination.AsSpan(0, length).SequenceEqual(source), $"copy differs at length {length}");
            Assert.All(destination.AsSpan(length).ToArray(), value => Assert.Equal(0, value));
        }
    }

    [Fact]
    public void With_a_seed_the_fused_copy_matches_seeded_xxh3()
    {
        var random = new Random(23);
        long[] seeds = [1, -1, long.MaxValue, long.MinValue, 0x5eed_0123_4567_89ab];
        foreach (var length in new[] { 1, 240, 241, 1024, 1025, 65536, 2 << 20 }.Concat(Enumerable.Range(0, 40).Select(_ => random.Next(1, 300_000))))
        {
            var source = new byte[length];
            random.NextBytes(source);
            var seed = seeds[random.Next(seeds.Length)];
            var destination = new byte[length];

            Assert.Equal(XxHash3.HashToUInt64(source, seed), CopyAndChecksum.Copy(source, destination, seed));
            Assert.True(destination.AsSpan().SequenceEqual(source), $"copy differs at length {length}");
        }
    }

    [Fact]
    public void A_too_small_destination_is_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => CopyAndChecksum.Copy(new byte[300], new byte[299]));

        Assert.Contains("holds 299 bytes, the source 300", error.Message, StringComparison.Ordinal);
    }
}
