using System.Buffers.Binary;
using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

public sealed class ChunkFormatTests
{
    private static byte[] EncodedRealChunk(ChunkCodec codec)
    {
        var chunk = CodecTestData.RealChunks(KvDataType.BFloat16)[5];
        return CodecTestData.Encode(codec, chunk.Bytes, CodecTestData.RealShape(KvDataType.BFloat16));
    }

    [Fact]
    public void The_header_records_codec_type_lengths_and_shape()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.SplitHuffman);
        var header = ChunkHeader.Read(encoded);
        Assert.Equal(CodecId.SplitHuffman, header.Codec);
        Assert.Equal(KvDataType.BFloat16, header.DataType);
        Assert.Equal(2 * 16 * 384 * 2, header.RawLength);
        Assert.Equal(encoded.Length, header.EncodedLength);
        Assert.Equal(16, header.Tokens);
        Assert.Equal(384, header.ChannelsPerToken);
    }

    [Fact]
    public void A_header_held_apart_from_its_payload_reads_and_verifies_like_the_whole_chunk()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.None);
        var header = encoded.AsSpan(0, ChunkHeader.Size).ToArray();
        var payload = encoded.AsSpan(ChunkHeader.Size).ToArray();

        var apart = ChunkHeader.Read(header, payload.Length);
        apart.VerifyChecksum(header, payload);
        payload[^1] ^= 0x20;

        Assert.Equal(ChunkHeader.Read(encoded), apart);
        Assert.Throws<ChunkFormatException>(() => apart.VerifyChecksum(header, payload));
        Assert.Throws<ChunkFormatException>(() => ChunkHeader.Read(header, payload.Length - 1));
        Assert.Throws<ChunkFormatException>(() => ChunkHeader.Read(encoded, payload.Length));
    }

    [Fact]
    public void A_none_header_written_alone_followed_by_the_raw_chunk_is_exactly_the_encoded_chunk()
    {
        var chunk = CodecTestData.RealChunks(KvDataType.BFloat16)[5];
        var shape = CodecTestData.RealShape(KvDataType.BFloat16);
        var header = new byte[ChunkHeader.Size];

        ChunkCodecs.WriteNoneHeader(chunk.Bytes, shape, header);

        byte[] apart = [.. header, .. chunk.Bytes];
        Assert.Equal(CodecTestData.Encode(ChunkCodecs.None, chunk.Bytes, shape), apart);
        Assert.Throws<ArgumentException>(() => ChunkCodecs.WriteNoneHeader(chunk.Bytes, shape, new byte[ChunkHeader.Size - 1]));
    }

    [Theory]
    [InlineData("split-lz4")]
    [InlineData("split-huffman")]
    [InlineData("fp8-kivi")]
    public void Every_truncation_is_rejected(string codecName)
    {
        var encoded = EncodedRealChunk(ChunkCodecs.Get(codecName));
        var destination = new byte[ChunkCodecs.DecodedLength(encoded)];
        for (var length = 0; length < encoded.Length; length += length < 64 ? 1 : 97)
        {
            var truncated = encoded.AsSpan(0, length).ToArray();
            Assert.Throws<ChunkFormatException>(() => ChunkCodecs.Decode(truncated, destination));
        }
    }

    [Theory]
    [InlineData("none")]
    [InlineData("lz4")]
    [InlineData("split-lz4")]
    [InlineData("split-huffman")]
    [InlineData("int8-kivi")]
    public void Every_single_bit_flip_is_detected(string codecName)
    {
        var encoded = EncodedRealChunk(ChunkCodecs.Get(codecName));
        var destination = new byte[ChunkCodecs.DecodedLength(encoded)];
        var random = new Random(11);
        for (var trial = 0; trial < 300; trial++)
        {
            var corrupted = encoded.ToArray();
            var bit = trial < 256 ? trial : random.Next(corrupted.Length * 8); // every header bit, then payload bits
            corrupted[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.Throws<ChunkFormatException>(() => ChunkCodecs.Decode(corrupted, destination));
        }
    }

    [Fact]
    public void A_chunk_of_another_codec_than_expected_is_rejected_by_name()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.Lz4);
        var error = Assert.Throws<ChunkFormatException>(() =>
            ChunkCodecs.Decode(encoded, new byte[ChunkCodecs.DecodedLength(encoded)], CodecId.SplitLz4));
        Assert.Contains("lz4", error.Message, StringComparison.Ordinal);
        Assert.Contains("split-lz4", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_destination_shorter_than_the_raw_length_is_rejected_without_writing()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.SplitLz4);
        var destination = new byte[ChunkCodecs.DecodedLength(encoded) - 1];
        var error = Assert.Throws<ChunkFormatException>(() => ChunkCodecs.Decode(encoded, destination));
        Assert.Contains(destination.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.All(destination, b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(0, 0x00, "magic")]
    [InlineData(3, 0x02, "version")]
    [InlineData(4, 0x63, "codec id 99")]
    [InlineData(5, 0x2A, "data type 42")]
    [InlineData(6, 0x01, "Reserved")]
    public void A_bad_header_field_is_named(int offset, byte value, string expected)
    {
        var encoded = EncodedRealChunk(ChunkCodecs.None);
        encoded[offset] = value;
        var error = Assert.Throws<ChunkFormatException>(() => ChunkCodecs.Decode(encoded, new byte[1 << 20]));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_raw_length_that_disagrees_with_the_payload_is_rejected_even_with_a_valid_checksum()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.SplitLz4);
        var header = ChunkHeader.Read(encoded);
        BinaryPrimitives.WriteInt32LittleEndian(encoded.AsSpan(8), header.RawLength - 2);
        (header with { RawLength = header.RawLength - 2 }).WriteWithChecksum(encoded);
        Assert.Throws<ChunkFormatException>(() => ChunkCodecs.Decode(encoded, new byte[header.RawLength]));
    }

    [Fact]
    public void Trailing_bytes_after_the_chunk_are_ignored()
    {
        var encoded = EncodedRealChunk(ChunkCodecs.SplitHuffman);
        var padded = encoded.Concat(new byte[100]).ToArray();
        Assert.Equal(CodecTestData.Decode(encoded), CodecTestData.Decode(padded));
    }
}
