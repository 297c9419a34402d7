using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Core.Tests;

public class KvNamespaceTests
{
    private static KvNamespace Baseline(string tenant = "tenant-a", string codec = "none", int tokensPerBlock = 16,
        BlockHashAlgorithm algorithm = BlockHashAlgorithm.Xxh3, string revision = "main") =>
        new(ModelPresets.Llama3With8B.ModelId, revision, ModelPresets.Llama3With8B.ToLayout(KvDataType.BFloat16, tokensPerBlock),
            tenant, algorithm, codec, ModelPresets.Llama3With8B.VocabularySize);

    [Fact]
    public void Namespace_id_is_stable_across_processes_and_releases()
    {
        // Pinned: ids are persisted in NVMe records and directory keys, so the encoding must never drift silently.
        Assert.Equal("0840ab48ef71ee92", Baseline().Id.ToString());
    }

    [Fact]
    public void Equal_fields_give_equal_ids()
    {
        Assert.Equal(Baseline().Id, Baseline().Id);
    }

    [Fact]
    public void Every_field_takes_part_in_the_id()
    {
        var ids = new[]
        {
            Baseline(), Baseline(tenant: "tenant-b"), Baseline(codec: "split-lz4"), Baseline(tokensPerBlock: 32),
            Baseline(algorithm: BlockHashAlgorithm.Sha256Cbor), Baseline(revision: "v2"),
            new KvNamespace("meta-llama/Meta-Llama-3-8B", "main",
                ModelPresets.Llama3With8B.ToLayout(KvDataType.Float16, 16), "tenant-a", vocabularySize: 128256),
            new KvNamespace("meta-llama/Meta-Llama-3-8B", "main",
                ModelPresets.Llama3With8B.ToLayout(KvDataType.BFloat16, 16, 1, 2), "tenant-a", vocabularySize: 128256),
        }.Select(n => n.Id).ToList();

        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Theory]
    [InlineData("", "main", "t")]
    [InlineData("model", "", "t")]
    [InlineData("model", "main", "")]
    [InlineData("model\n", "main", "t")]
    public void Empty_or_control_character_names_are_rejected(string model, string revision, string tenant)
    {
        Assert.Throws<ArgumentException>(() => new KvNamespace(model, revision, ModelPresets.Tiny.ToLayout(), tenant));
    }

    [Fact]
    public void Overlong_names_and_negative_vocabularies_are_rejected()
    {
        var layout = ModelPresets.Tiny.ToLayout();
        var error = Assert.Throws<ArgumentException>(() => new KvNamespace(new string('m', 300), "main", layout, "t"));
        Assert.Contains("got 300", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvNamespace("m", "main", layout, "t", vocabularySize: -1));
    }
}
