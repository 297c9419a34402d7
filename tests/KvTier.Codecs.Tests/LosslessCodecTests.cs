using System.Buffers.Binary;
using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

public sealed class LosslessCodecTests
{
    public static TheoryData<string, KvDataType> LosslessCodecsAndTypes()
    {
        var data = new TheoryData<string, KvDataType>();
        foreach (var codec in ChunkCodecs.All.Where(c => c.IsLossless))
        {
            foreach (var dataType in (KvDataType[])[KvDataType.BFloat16, KvDataType.Float16, KvDataType.Float32, KvDataType.Float8E4M3])
            {
                data.Add(codec.Name, dataType);
            }
        }

        return data;
    }

    public static TheoryData<string, KvDataType> LosslessCodecsOnRealTypes()
    {
        var data = new TheoryData<string, KvDataType>();
        foreach (var codec in ChunkCodecs.All.Where(c => c.IsLossless))
        {
            data.Add(codec.Name, KvDataType.BFloat16);
            data.Add(codec.Name, KvDataType.Float16);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LosslessCodecsOnRealTypes))]
    public void Real_MiniLM_chunks_round_trip_exactly(string codecName, KvDataType dataType)
    {
        var codec = ChunkCodecs.Get(codecName);
        var shape = CodecTestData.RealShape(dataType);
        foreach (var chunk in CodecTestData.RealChunks(dataType))
        {
            var encoded = CodecTestData.Encode(codec, chunk.Bytes, shape);
            Assert.Equal(chunk.Bytes, CodecTestData.Decode(encoded));
        }
    }

    [Theory]
    [MemberData(nameof(LosslessCodecsAndTypes))]
    public void Random_chunks_of_any_length_round_trip_exactly(string codecName, KvDataType dataType)
    {
        var codec = ChunkCodecs.Get(codecName);
        foreach (var length in (int[])[0, 1, 2, 3, 5, 31, 32, 33, 1023, 24576, 24577, 24579])
        {
            var chunk = CodecTestData.RandomBytes(length, seed: length);
            var encoded = CodecTestData.Encode(codec, chunk, new ChunkShape(dataType));
            Assert.True(encoded.Length <= codec.MaxEncodedLength(length), $"{codecName} wrote {encoded.Length} bytes for {length}");
            Assert.Equal(chunk, CodecTestData.Decode(encoded));
        }
    }

    [Theory]
    [MemberData(nameof(LosslessCodecsAndTypes))]
    public void All_zero_chunks_round_trip_and_compress(string codecName, KvDataType dataType)
    {
        var codec = ChunkCodecs.Get(codecName);
        var chunk = new byte[24577];
        var encoded = CodecTestData.Encode(codec, chunk, new ChunkShape(dataType));
        Assert.Equal(chunk, CodecTestData.Decode(encoded));
        if (codec.Id != CodecId.None)
        {
            Assert.True(encoded.Length < chunk.Length / 4, $"{codecName} kept {encoded.Length} of {chunk.Length} zero bytes");
        }
    }

    [Theory]
    [MemberData(nameof(LosslessCodecsOnRealTypes))]
    public void All_NaN_chunks_round_trip_bit_for_bit(string codecName, KvDataType dataType)
    {
        var codec = ChunkCodecs.Get(codecName);
        var chunk = new byte[2 * 16 * 384 * 2];
        var random = new Random(7);
        for (var i = 0; i < chunk.Length; i += 2)
        {
            // Quiet NaNs with varied payloads and signs: the exact bits must survive.
            var nan = dataType == KvDataType.BFloat16 ? 0x7FC0 | random.Next(64) : 0x7E00 | random.Next(512);
            BinaryPrimitives.WriteUInt16LittleEndian(chunk.AsSpan(i), (ushort)(nan | (random.Next(2) << 15)));
        }

        Assert.Equal(chunk, CodecTestData.Decode(CodecTestData.Encode(codec, chunk, new ChunkShape(dataType))));
    }

    [Fact]
    public void Split_codecs_beat_plain_lz4_on_real_bf16_keys_and_values()
    {
        var shape = CodecTestData.RealShape(KvDataType.BFloat16);
        var chunks = CodecTestData.RealChunks(KvDataType.BFloat16);
        long Size(ChunkCodec codec) => chunks.Sum(c => (long)CodecTestData.Encode(codec, c.Bytes, shape).Length);

        var lz4 = Size(ChunkCodecs.Lz4);
        var splitLz4 = Size(ChunkCodecs.SplitLz4);
        var splitHuffman = Size(ChunkCodecs.SplitHuffman);
        Assert.True(splitLz4 < lz4, $"split-lz4 {splitLz4} B vs lz4 {lz4} B");
        Assert.True(splitHuffman < splitLz4, $"split-huffman {splitHuffman} B vs split-lz4 {splitLz4} B");
    }

    [Fact]
    public void Encoding_into_a_short_destination_is_refused_before_writing()
    {
        var chunk = CodecTestData.RandomBytes(1000, 1);
        var destination = new byte[ChunkCodecs.SplitLz4.MaxEncodedLength(chunk.Length) - 1];
        var error = Assert.Throws<ArgumentException>(() =>
            ChunkCodecs.SplitLz4.Encode(chunk, new ChunkShape(KvDataType.BFloat16), destination));
        Assert.Contains(destination.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.All(destination, b => Assert.Equal(0, b));
    }
}
