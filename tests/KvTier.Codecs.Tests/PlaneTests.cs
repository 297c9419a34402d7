namespace KvTier.Codecs.Tests;

public sealed class PlaneTests
{
    [Fact]
    public void Split_and_merge_of_16_bit_elements_match_the_scalar_definition()
    {
        foreach (var count in (int[])[0, 1, 15, 16, 17, 33, 1000])
        {
            var source = CodecTestData.RandomBytes(2 * count, count);
            var planes = new byte[2 * count];
            BytePlanes.Split(source, 2, planes);
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(source[2 * i], planes[i]);
                Assert.Equal(source[(2 * i) + 1], planes[count + i]);
            }

            var merged = new byte[2 * count];
            BytePlanes.Merge(planes.AsSpan(0, count), planes.AsSpan(count), merged);
            Assert.Equal(source, merged);
        }
    }

    [Fact]
    public void Huffman_round_trips_a_skewed_plane_and_beats_its_raw_size()
    {
        var random = new Random(3);
        var plane = new byte[24576];
        for (var i = 0; i < plane.Length; i++)
        {
            plane[i] = (byte)(0x3C + (int)Math.Min(40, -Math.Log(1 - random.NextDouble()) * 2));
        }

        var encoded = new byte[plane.Length];
        var length = HuffmanPlane.Encode(plane, encoded);
        Assert.InRange(length, HuffmanPlane.TableBytes, plane.Length / 2);
        var decoded = new byte[plane.Length];
        HuffmanPlane.Decode(encoded.AsSpan(0, length), decoded);
        Assert.Equal(plane, decoded);
    }

    [Fact]
    public void Huffman_limits_code_lengths_for_very_skewed_counts()
    {
        // Fibonacci-like counts would need codes of 20+ bits without a limit.
        var plane = new List<byte>();
        long a = 1, b = 1;
        for (var symbol = 0; symbol < 24; symbol++)
        {
            plane.AddRange(Enumerable.Repeat((byte)symbol, (int)a));
            (a, b) = (b, a + b);
        }

        var source = plane.ToArray();
        var encoded = new byte[source.Length];
        var length = HuffmanPlane.Encode(source, encoded);
        Assert.True(length > 0);
        for (var s = 0; s < 256; s++)
        {
            Assert.InRange((encoded[s / 2] >> (4 * (s & 1))) & 0xF, 0, HuffmanPlane.MaxCodeLength);
        }

        var decoded = new byte[source.Length];
        HuffmanPlane.Decode(encoded.AsSpan(0, length), decoded);
        Assert.Equal(source, decoded);
    }

    [Fact]
    public void Huffman_round_trips_a_constant_plane()
    {
        var plane = Enumerable.Repeat((byte)0x42, 5000).ToArray();
        var encoded = new byte[plane.Length];
        var length = HuffmanPlane.Encode(plane, encoded);
        var decoded = new byte[plane.Length];
        HuffmanPlane.Decode(encoded.AsSpan(0, length), decoded);
        Assert.Equal(plane, decoded);
    }

    [Fact]
    public void Huffman_rejects_oversubscribed_code_lengths()
    {
        var encoded = new byte[HuffmanPlane.TableBytes + 16];
        encoded[0] = 0x11; // symbols 0 and 1 with 1-bit codes
        encoded[1] = 0x01; // symbol 2 with a 1-bit code too: three codes of one bit cannot exist
        var error = Assert.Throws<ChunkFormatException>(() => HuffmanPlane.Decode(encoded, new byte[10]));
        Assert.Contains("oversubscribed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Huffman_rejects_a_stream_too_short_for_its_symbols()
    {
        var plane = CodecTestData.RandomBytes(4000, 5).Select(b => (byte)(b & 7)).ToArray();
        var encoded = new byte[plane.Length];
        var length = HuffmanPlane.Encode(plane, encoded);
        Assert.Throws<ChunkFormatException>(() => HuffmanPlane.Decode(encoded.AsSpan(0, length - 10), new byte[plane.Length]));
    }

    [Fact]
    public void Huffman_rejects_bits_that_no_code_reaches()
    {
        // Only symbol 0 has a code ("0"): a stream of one-bits hits unassigned table entries, in the fast loop.
        var encoded = new byte[HuffmanPlane.HeaderBytes + 400];
        encoded[0] = 0x01;
        for (var k = 0; k < HuffmanPlane.Streams - 1; k++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(encoded.AsSpan(HuffmanPlane.TableBytes + (4 * k)), 100);
        }

        encoded.AsSpan(HuffmanPlane.HeaderBytes).Fill(0xFF);
        var error = Assert.Throws<ChunkFormatException>(() => HuffmanPlane.Decode(encoded, new byte[400]));
        Assert.Contains("invalid code", error.Message, StringComparison.Ordinal);
    }
}
