using System.Buffers.Binary;
using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>Converts stored KV elements (fp16, bf16, fp32, little-endian) to and from float.</summary>
public static class ElementConversion
{
    /// <summary>True for the element types lossy codecs take (fp16, bf16 and fp32).</summary>
    public static bool IsQuantizable(KvDataType dataType) =>
        dataType is KvDataType.Float16 or KvDataType.BFloat16 or KvDataType.Float32;

    /// <summary>Converts <c>destination.Length</c> elements of <paramref name="source"/> to float.</summary>
    public static void ToFloat(ReadOnlySpan<byte> source, KvDataType dataType, Span<float> destination)
    {
        switch (dataType)
        {
            case KvDataType.Float16:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]));
                }

                break;
            case KvDataType.BFloat16:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(source[(2 * i)..]));
                }

                break;
            case KvDataType.Float32:
                for (var i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(4 * i)..]);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dataType), dataType,
                    $"Element type {dataType.Name()} cannot be converted to float here (fp16, bf16 and fp32 can).");
        }
    }

    /// <summary>Converts floats to <paramref name="dataType"/>, rounding to nearest even.</summary>
    public static void FromFloat(ReadOnlySpan<float> source, KvDataType dataType, Span<byte> destination)
    {
        switch (dataType)
        {
            case KvDataType.Float16:
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], BitConverter.HalfToUInt16Bits((Half)source[i]));
                }

                break;
            case KvDataType.BFloat16:
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], FloatToBFloat16(source[i]));
                }

                break;
            case KvDataType.Float32:
                for (var i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(4 * i)..], source[i]);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dataType), dataType,
                    $"Element type {dataType.Name()} cannot be written from float here (fp16, bf16 and fp32 can).");
        }
    }

    /// <summary>bfloat16 bits to float (exact).</summary>
    public static float BFloat16ToFloat(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Float to bfloat16 bits, rounding to nearest even; NaN stays a (quiet) NaN.</summary>
    public static ushort FloatToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1)) >> 16);
    }
}
