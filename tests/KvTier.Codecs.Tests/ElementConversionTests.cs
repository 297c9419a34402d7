using System.Buffers.Binary;
using KvTier.Core.Layout;

namespace KvTier.Codecs.Tests;

public sealed class ElementConversionTests
{
    [Theory]
    [InlineData(1.0f, 0x38)]
    [InlineData(0.5f, 0x30)]
    [InlineData(-2.0f, 0xC0)]
    [InlineData(448f, 0x7E)]
    [InlineData(1e6f, 0x7E)]
    [InlineData(-1e6f, 0xFE)]
    [InlineData(0.001953125f, 0x01)] // 2^-9, the smallest subnormal
    [InlineData(0.015625f, 0x08)]    // 2^-6, the smallest normal
    [InlineData(1.0625f, 0x38)]      // halfway between 1 and 1.125: ties to even (mantissa 0)
    [InlineData(1.1875f, 0x3A)]      // halfway between 1.125 and 1.25: ties to even (mantissa 2)
    [InlineData(0f, 0x00)]
    public void Float_to_fp8_e4m3_rounds_to_nearest_even_and_saturates(float value, int expected) =>
        Assert.Equal((byte)expected, Float8E4M3.FromFloat(value));

    [Fact]
    public void Every_finite_fp8_code_survives_a_float_round_trip()
    {
        for (var code = 0; code < 256; code++)
        {
            if ((code & 0x7F) == 0x7F)
            {
                Assert.True(float.IsNaN(Float8E4M3.ToFloat((byte)code)));
                Assert.True(float.IsNaN(Float8E4M3.ToFloat(Float8E4M3.FromFloat(float.NaN))));
                continue;
            }

            Assert.Equal((byte)code, Float8E4M3.FromFloat(Float8E4M3.ToFloat((byte)code)));
        }
    }

    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(1.00390625f, 0x3F80)]  // exactly halfway: ties to even
    [InlineData(1.01171875f, 0x3F82)]  // halfway above an odd mantissa: rounds up to even
    [InlineData(-3.0f, 0xC040)]
    public void Float_to_bf16_rounds_to_nearest_even(float value, int expected) =>
        Assert.Equal((ushort)expected, ElementConversion.FloatToBFloat16(value));

    [Fact]
    public void Bf16_NaN_stays_NaN() =>
        Assert.True(float.IsNaN(ElementConversion.BFloat16ToFloat(ElementConversion.FloatToBFloat16(float.NaN))));

    [Fact]
    public void Bulk_bf16_to_float_matches_the_scalar_conversion_for_every_bit_pattern()
    {
        var source = new byte[2 * 65536];
        for (var bits = 0; bits < 65536; bits++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(source.AsSpan(2 * bits), (ushort)bits);
        }

        var floats = new float[65536];
        ElementConversion.ToFloat(source, KvDataType.BFloat16, floats);
        for (var bits = 0; bits < 65536; bits++)
        {
            Assert.Equal(BitConverter.SingleToUInt32Bits(ElementConversion.BFloat16ToFloat((ushort)bits)),
                BitConverter.SingleToUInt32Bits(floats[bits]));
        }
    }

    [Fact]
    public void Bulk_float_to_bf16_matches_the_scalar_conversion_including_NaN_and_ties()
    {
        var random = new Random(17);
        var floats = new float[100_003];
        for (var i = 0; i < floats.Length; i++)
        {
            // Random bit patterns cover NaN, infinities, subnormals; every 7th value is an exact rounding tie.
            var bits = (uint)random.NextInt64(0, 1L << 32);
            floats[i] = BitConverter.UInt32BitsToSingle(i % 7 == 0 ? (bits & 0xFFFF0000u) | 0x8000u : bits);
        }

        var bytes = new byte[2 * floats.Length];
        ElementConversion.FromFloat(floats, KvDataType.BFloat16, bytes);
        for (var i = 0; i < floats.Length; i++)
        {
            Assert.Equal(ElementConversion.FloatToBFloat16(floats[i]), BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
        }
    }
}
