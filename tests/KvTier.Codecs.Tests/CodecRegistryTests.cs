using KvTier.Core;
using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

public sealed class CodecRegistryTests
{
    [Theory]
    [InlineData("none", 0, true)]
    [InlineData("lz4", 1, true)]
    [InlineData("split-lz4", 2, true)]
    [InlineData("split-huffman", 3, true)]
    [InlineData("fp8", 16, false)]
    [InlineData("fp8-kivi", 17, false)]
    [InlineData("int8-kivi", 18, false)]
    [InlineData("int4-kivi", 19, false)]
    public void Names_and_ids_are_stable_because_they_are_stored(string name, byte id, bool lossless)
    {
        var codec = ChunkCodecs.Get(name);
        Assert.Equal(id, (byte)codec.Id);
        Assert.Same(codec, ChunkCodecs.Get((CodecId)id));
        Assert.Same(codec, ChunkCodecs.Get(name.ToUpperInvariant()));
        Assert.Equal(lossless, codec.IsLossless);
    }

    [Fact]
    public void Every_codec_has_a_distinct_name_and_id()
    {
        Assert.Equal(ChunkCodecs.All.Count, ChunkCodecs.All.Select(c => c.Id).Distinct().Count());
        Assert.Equal(ChunkCodecs.All.Count, ChunkCodecs.All.Select(c => c.Name).Distinct().Count());
    }

    [Fact]
    public void An_unknown_name_is_rejected_with_the_known_ones_listed()
    {
        var error = Assert.Throws<ArgumentException>(() => ChunkCodecs.Get("zip"));
        Assert.Contains("'zip'", error.Message, StringComparison.Ordinal);
        Assert.Contains("split-lz4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_id_is_rejected()
    {
        Assert.False(ChunkCodecs.IsKnown((CodecId)200));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChunkCodecs.Get((CodecId)200));
    }

    [Fact]
    public void A_namespace_finds_its_codec_by_name()
    {
        var layout = ModelPresets.MiniLmL6.ToLayout(KvDataType.BFloat16, 16);
        Assert.Same(ChunkCodecs.None, ChunkCodecs.ForNamespace(new KvNamespace("m", "main", layout, "t")));
        Assert.Same(ChunkCodecs.SplitHuffman,
            ChunkCodecs.ForNamespace(new KvNamespace("m", "main", layout, "t", codec: "split-huffman")));
    }

    [Fact]
    public void A_lossy_codec_on_an_fp8_namespace_is_refused()
    {
        var layout = ModelPresets.MiniLmL6.ToLayout(KvDataType.Float8E4M3, 16);
        var error = Assert.Throws<ArgumentException>(() =>
            ChunkCodecs.ForNamespace(new KvNamespace("m", "main", layout, "t", codec: "int8-kivi")));
        Assert.Contains("fp8_e4m3", error.Message, StringComparison.Ordinal);
    }
}
