using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

public sealed class LossyCodecTests
{
    /// <summary>Error bounds per codec on the real MiniLM fixture, per tensor of each chunk: worst cosine similarity
    /// and worst relative L2 error. fp8 and int8 hold the bound (cosine at least 0.999); int4 does not, so it
    /// carries its own, looser bound and stays an explicit opt-in.</summary>
    public static TheoryData<string, KvDataType, double, double> Bounds() => new()
    {
        { "fp8", KvDataType.BFloat16, 0.999, 0.04 },
        { "fp8", KvDataType.Float16, 0.999, 0.04 },
        { "fp8-kivi", KvDataType.BFloat16, 0.999, 0.04 },
        { "fp8-kivi", KvDataType.Float16, 0.999, 0.04 },
        { "int8-kivi", KvDataType.BFloat16, 0.9999, 0.015 },
        { "int8-kivi", KvDataType.Float16, 0.9999, 0.015 },
        { "int4-kivi", KvDataType.BFloat16, 0.985, 0.2 },
        { "int4-kivi", KvDataType.Float16, 0.985, 0.2 },
    };

    [Theory]
    [MemberData(nameof(Bounds))]
    public void Real_MiniLM_keys_and_values_stay_within_the_error_bound(string codecName, KvDataType dataType,
        double minCosine, double maxRelativeError)
    {
        var codec = ChunkCodecs.Get(codecName);
        var shape = CodecTestData.RealShape(dataType);
        foreach (var chunk in CodecTestData.RealChunks(dataType))
        {
            var decoded = CodecTestData.Decode(CodecTestData.Encode(codec, chunk.Bytes, shape));
            var (keys, values) = TensorError.MeasureChunk(chunk.Bytes, decoded, shape);
            foreach (var (tensor, error) in (ReadOnlySpan<(string, TensorError)>)[("K", keys), ("V", values)])
            {
                Assert.True(error.CosineSimilarity >= minCosine,
                    $"{codecName} layer {chunk.Layer} token {chunk.FirstToken} {tensor}: cosine {error.CosineSimilarity}");
                Assert.True(error.RelativeError <= maxRelativeError,
                    $"{codecName} layer {chunk.Layer} token {chunk.FirstToken} {tensor}: relative error {error.RelativeError}");
                Assert.True(error.MaxAbsoluteError > 0, "a lossy codec that loses nothing on real data is suspicious");
            }
        }
    }

    [Theory]
    [InlineData("fp8", 0.05)]
    [InlineData("fp8-kivi", 0.05)]
    [InlineData("int8-kivi", 0.01)]
    public void Attention_scores_of_real_queries_against_decoded_keys_stay_close(string codecName, double maxRelativeError)
    {
        var codec = ChunkCodecs.Get(codecName);
        var fixture = CodecTestData.Fixture;
        var queries = fixture.ReadQueries();
        var shape = CodecTestData.RealShape(KvDataType.BFloat16);
        var headDim = fixture.Metadata.HeadDim;
        foreach (var chunk in CodecTestData.RealChunks(KvDataType.BFloat16))
        {
            var decoded = CodecTestData.Decode(CodecTestData.Encode(codec, chunk.Bytes, shape));
            var keys = new float[CodecTestData.BlockTokens * fixture.Channels];
            var decodedKeys = new float[keys.Length];
            ElementConversion.ToFloat(chunk.Bytes, KvDataType.BFloat16, keys);
            ElementConversion.ToFloat(decoded, KvDataType.BFloat16, decodedKeys);
            var exact = new List<float>();
            var approximate = new List<float>();
            var queryBase = ((chunk.Layer * fixture.Metadata.Tokens) + chunk.FirstToken) * fixture.Channels;
            for (var i = 0; i < CodecTestData.BlockTokens; i++)
            {
                for (var j = 0; j < CodecTestData.BlockTokens; j++)
                {
                    for (var head = 0; head < fixture.Metadata.Heads; head++)
                    {
                        float s = 0, t = 0;
                        for (var d = 0; d < headDim; d++)
                        {
                            var q = queries[queryBase + (i * fixture.Channels) + (head * headDim) + d];
                            s += q * keys[(j * fixture.Channels) + (head * headDim) + d];
                            t += q * decodedKeys[(j * fixture.Channels) + (head * headDim) + d];
                        }

                        exact.Add(s);
                        approximate.Add(t);
                    }
                }
            }

            var error = TensorError.Measure(exact.ToArray(), approximate.ToArray());
            Assert.True(error.RelativeError <= maxRelativeError,
                $"{codecName} layer {chunk.Layer} token {chunk.FirstToken}: q.k relative error {error.RelativeError}");
        }
    }

    [Theory]
    [InlineData(KvDataType.BFloat16)]
    [InlineData(KvDataType.Float16)]
    public void Fp8_payload_is_exactly_half_of_a_16_bit_chunk(KvDataType dataType)
    {
        var shape = CodecTestData.RealShape(dataType);
        var chunk = CodecTestData.RealChunks(dataType)[0].Bytes;
        var encoded = CodecTestData.Encode(ChunkCodecs.Fp8, chunk, shape);
        // Header, one bf16 scale per tensor, then one byte per element.
        Assert.Equal(ChunkHeader.Size + (2 * 2) + (chunk.Length / 2), encoded.Length);
    }

    [Fact]
    public void Per_channel_key_scales_beat_one_scale_when_keys_have_outlier_channels()
    {
        var shape = new ChunkShape(KvDataType.BFloat16, 64, 256);
        var chunk = CodecTestData.OutlierChannelChunk(KvDataType.BFloat16, 64, 256, seed: 9);
        double KeyError(ChunkCodec codec) =>
            TensorError.MeasureChunk(chunk, CodecTestData.Decode(CodecTestData.Encode(codec, chunk, shape)), shape).Keys.RelativeError;

        // Per tensor, the outliers set the scale and push ordinary channels into fp8's subnormal range.
        Assert.True(KeyError(ChunkCodecs.Fp8Kivi) < KeyError(ChunkCodecs.Fp8));
    }

    [Theory]
    [InlineData("fp8")]
    [InlineData("int8-kivi")]
    public void Fp32_chunks_are_quantized_too(string codecName)
    {
        var shape = new ChunkShape(KvDataType.Float32, 16, 64);
        var chunk = CodecTestData.OutlierChannelChunk(KvDataType.Float32, 16, 64, seed: 2);
        var decoded = CodecTestData.Decode(CodecTestData.Encode(ChunkCodecs.Get(codecName), chunk, shape));
        var (keys, values) = TensorError.MeasureChunk(chunk, decoded, shape);
        Assert.True(keys.CosineSimilarity > 0.999 && values.CosineSimilarity > 0.999, $"{keys} {values}");
    }

    [Fact]
    public void Constant_and_zero_tensors_decode_exactly()
    {
        var shape = new ChunkShape(KvDataType.BFloat16, 4, 8);
        var chunk = new byte[shape.ChunkBytes];
        foreach (var codec in ChunkCodecs.All.Where(c => !c.IsLossless))
        {
            Assert.Equal(chunk, CodecTestData.Decode(CodecTestData.Encode(codec, chunk, shape)));
        }
    }

    [Fact]
    public void A_lossy_codec_needs_the_chunk_shape()
    {
        var chunk = new byte[1000];
        var error = Assert.Throws<ArgumentException>(() =>
            CodecTestData.Encode(ChunkCodecs.Int8Kivi, chunk, new ChunkShape(KvDataType.BFloat16, 16, 384)));
        Assert.Contains("1000 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_lossy_codec_refuses_data_that_is_already_fp8()
    {
        var shape = new ChunkShape(KvDataType.Float8E4M3, 4, 8);
        var error = Assert.Throws<ArgumentException>(() =>
            CodecTestData.Encode(ChunkCodecs.Fp8, new byte[shape.ChunkBytes], shape));
        Assert.Contains("fp8_e4m3", error.Message, StringComparison.Ordinal);
    }
}
