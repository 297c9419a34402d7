using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
                BFloat16ToFloat(MemoryMarshal.Cast<byte, ushort>(source[..(2 * destination.Length)]), destination);
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
                FloatToBFloat16(source, MemoryMarshal.Cast<byte, ushort>(destination[..(2 * source.Length)]));
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

    // The vector paths assume a little-endian host, as every supported .NET target is; the scalar tails are the
    // definition they are tested against.
    private static void BFloat16ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            ref var src = ref MemoryMarshal.GetReference(source);
            ref var dst = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
            for (; i + 8 <= destination.Length; i += 8)
            {
                var (lower, upper) = Vector128.Widen(Vector128.LoadUnsafe(ref src, (nuint)i));
                (lower << 16).StoreUnsafe(ref dst, (nuint)i);
                (upper << 16).StoreUnsafe(ref dst, (nuint)(i + 4));
            }
        }

        for (; i < destination.Length; i++)
        {
            destination[i] = BFloat16ToFloat(source[i]);
        }
    }

    private static void FloatToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            ref var src = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
            ref var dst = ref MemoryMarshal.GetReference(destination);
            for (; i + 8 <= source.Length; i += 8)
            {
                var lower = RoundToBFloat16(Vector128.LoadUnsafe(ref src, (nuint)i));
                var upper = RoundToBFloat16(Vector128.LoadUnsafe(ref src, (nuint)(i + 4)));
                Vector128.Narrow(lower, upper).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        for (; i < source.Length; i++)
        {
            destination[i] = FloatToBFloat16(source[i]);
        }
    }

    /// <summary>Four floats' bits to bf16 in the low halves: round to nearest even, NaN made quiet.</summary>
    private static Vector128<uint> RoundToBFloat16(Vector128<uint> bits)
    {
        var rounded = (bits + Vector128.Create(0x7FFFu) + ((bits >>> 16) & Vector128<uint>.One)) >>> 16;
        var isNaN = Vector128.GreaterThan(bits & Vector128.Create(0x7FFFFFFFu), Vector128.Create(0x7F800000u));
        return Vector128.ConditionalSelect(isNaN, (bits >>> 16) | Vector128.Create(0x40u), rounded);
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
