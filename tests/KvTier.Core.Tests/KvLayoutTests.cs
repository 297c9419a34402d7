using KvTier.Core.Layout;

namespace KvTier.Core.Tests;

public class KvLayoutTests
{
    [Fact]
    public void Llama_3_8B_in_bf16_takes_128_KiB_per_token_and_2_MiB_per_16_token_block()
    {
        var layout = ModelPresets.Llama3With8B.ToLayout(KvDataType.BFloat16, tokensPerBlock: 16);

        Assert.Equal(128 * 1024, layout.BytesPerToken); // 2 (K,V) x 32 layers x 8 heads x 128 dims x 2 bytes
        Assert.Equal(64 * 1024, layout.BytesPerLayerChunk);
        Assert.Equal(2 * 1024 * 1024, layout.BytesPerBlock);
    }

    [Fact]
    public void Tensor_parallel_ranks_hold_their_share_of_the_KV_heads()
    {
        var rank1Of2 = ModelPresets.Llama3With70B.ToLayout(KvDataType.Float16, 16, tensorParallelRank: 1, tensorParallelSize: 2);
        Assert.Equal(4, rank1Of2.KvHeadsPerRank);
        Assert.Equal(2L * 80 * 4 * 128 * 2, rank1Of2.BytesPerToken);

        // Qwen2.5-7B has 4 KV heads: at TP 8 each head is replicated on two ranks.
        var replicated = ModelPresets.Qwen25With7B.ToLayout(KvDataType.BFloat16, 16, tensorParallelRank: 7, tensorParallelSize: 8);
        Assert.Equal(1, replicated.KvHeadsPerRank);
    }

    [Fact]
    public void Fp8_halves_the_bytes_of_bf16()
    {
        var bf16 = ModelPresets.Mistral7B.ToLayout(KvDataType.BFloat16, 256);
        var fp8 = ModelPresets.Mistral7B.ToLayout(KvDataType.Float8E4M3, 256);
        Assert.Equal(bf16.BytesPerBlock, 2 * fp8.BytesPerBlock);
    }

    [Theory]
    [InlineData(0, 8, 128, 16, 0, 1, "layers")]
    [InlineData(32, 0, 128, 16, 0, 1, "kvHeads")]
    [InlineData(32, 8, -1, 16, 0, 1, "headDim")]
    [InlineData(32, 8, 128, 0, 0, 1, "tokensPerBlock")]
    [InlineData(32, 8, 128, 16, 2, 2, "tensorParallelRank")]
    [InlineData(32, 8, 128, 16, 0, 3, "tensorParallelSize")]
    [InlineData(80, 64, 4096, 65536, 0, 1, "tokensPerBlock")]
    public void Impossible_or_absurd_shapes_are_rejected_naming_the_offending_value(
        int layers, int heads, int headDim, int tokensPerBlock, int rank, int size, string parameter)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(
            () => new KvLayout(layers, heads, headDim, KvDataType.BFloat16, tokensPerBlock, rank, size));
        Assert.Equal(parameter, error.ParamName);
    }

    [Fact]
    public void Undefined_data_types_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new KvLayout(1, 1, 1, (KvDataType)99, 16));
    }

    [Theory]
    [InlineData("fp16", KvDataType.Float16)]
    [InlineData("BF16", KvDataType.BFloat16)]
    [InlineData("bfloat16", KvDataType.BFloat16)]
    [InlineData("fp8", KvDataType.Float8E4M3)]
    [InlineData("fp8_e5m2", KvDataType.Float8E5M2)]
    [InlineData(" float32 ", KvDataType.Float32)]
    public void Data_type_names_parse_as_engines_spell_them(string name, KvDataType expected)
    {
        Assert.Equal(expected, KvDataTypes.Parse(name));
        Assert.Equal(expected, KvDataTypes.Parse(expected.Name()));
    }

    [Fact]
    public void Unknown_data_type_names_are_rejected_with_the_name()
    {
        var error = Assert.Throws<ArgumentException>(() => KvDataTypes.Parse("int3"));
        Assert.Contains("'int3'", error.Message);
    }

    [Fact]
    public void Presets_are_found_by_name_and_unknown_names_list_the_known_ones()
    {
        Assert.Same(ModelPresets.Qwen25With7B, ModelPresets.Get("Qwen2.5-7B"));
        var error = Assert.Throws<ArgumentException>(() => ModelPresets.Get("gpt-9"));
        Assert.Contains("llama-3-8b", error.Message);
    }
}
