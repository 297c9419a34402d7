namespace KvTier.Storage.Tests;

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

            Assert.Equal(ChunkInfo.ChecksumOf(source), checksum);
            Assert.True(destination.AsSpan(0, length).SequenceEqual(source), $"copy differs at length {length}");
            Assert.All(destination.AsSpan(length).ToArray(), value => Assert.Equal(0, value));
        }
    }

    [Fact]
    public void A_too_small_destination_is_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => CopyAndChecksum.Copy(new byte[300], new byte[299]));

        Assert.Contains("holds 299 bytes, the source 300", error.Message, StringComparison.Ordinal);
    }
}
