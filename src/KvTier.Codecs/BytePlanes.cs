using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace KvTier.Codecs;

/// <summary>
/// Splits little-endian elements into byte planes (plane p holds byte p of every element) and merges them back.
/// For 16-bit floats plane 1 holds sign and exponent (compressible), plane 0 the low mantissa bits (near random).
/// The 16-bit paths are vectorised with narrow/widen, which every SIMD target accelerates.
/// </summary>
internal static class BytePlanes
{
    /// <summary>Writes byte p of element i to <c>planes[p * count + i]</c> for the first
    /// <c>count = source.Length / elementSize</c> elements; trailing bytes are left to the caller.</summary>
    public static void Split(ReadOnlySpan<byte> source, int elementSize, Span<byte> planes)
    {
        var count = source.Length / elementSize;
        switch (elementSize)
        {
            case 1:
                source.CopyTo(planes);
                break;
            case 2:
                Split16(MemoryMarshal.Cast<byte, ushort>(source[..(count * 2)]), planes[..count], planes.Slice(count, count));
                break;
            default:
                for (var i = 0; i < count; i++)
                {
                    for (var p = 0; p < elementSize; p++)
                    {
                        planes[(p * count) + i] = source[(i * elementSize) + p];
                    }
                }

                break;
        }
    }

    /// <summary>The inverse of <see cref="Split"/>: element i of <paramref name="destination"/> gets byte p from
    /// <c>planes[p][i]</c>, for <c>count</c> elements.</summary>
    public static void Merge(ReadOnlySpan<byte> low, ReadOnlySpan<byte> high, Span<byte> destination) =>
        Merge16(low, high, MemoryMarshal.Cast<byte, ushort>(destination[..(low.Length * 2)]));

    /// <summary>Merges planes of any element size (the non-16-bit path).</summary>
    public static void MergeGeneric(ReadOnlySpan<byte> planes, int elementSize, int count, Span<byte> destination)
    {
        for (var i = 0; i < count; i++)
        {
            for (var p = 0; p < elementSize; p++)
            {
                destination[(i * elementSize) + p] = planes[(p * count) + i];
            }
        }
    }

    private static void Split16(ReadOnlySpan<ushort> source, Span<byte> low, Span<byte> high)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var src = ref MemoryMarshal.GetReference(source);
            ref var lo = ref MemoryMarshal.GetReference(low);
            ref var hi = ref MemoryMarshal.GetReference(high);
            for (; i + 16 <= source.Length; i += 16)
            {
                var a = Vector128.LoadUnsafe(ref src, (nuint)i);
                var b = Vector128.LoadUnsafe(ref src, (nuint)(i + 8));
                Vector128.Narrow(a & Vector128.Create((ushort)0xFF), b & Vector128.Create((ushort)0xFF))
                    .StoreUnsafe(ref lo, (nuint)i);
                Vector128.Narrow(a >>> 8, b >>> 8).StoreUnsafe(ref hi, (nuint)i);
            }
        }

        for (; i < source.Length; i++)
        {
            low[i] = (byte)source[i];
            high[i] = (byte)(source[i] >> 8);
        }
    }

    private static void Merge16(ReadOnlySpan<byte> low, ReadOnlySpan<byte> high, Span<ushort> destination)
    {
        var i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref var lo = ref MemoryMarshal.GetReference(low);
            ref var hi = ref MemoryMarshal.GetReference(high);
            ref var dst = ref MemoryMarshal.GetReference(destination);
            for (; i + 16 <= destination.Length; i += 16)
            {
                var (loLower, loUpper) = Vector128.Widen(Vector128.LoadUnsafe(ref lo, (nuint)i));
                var (hiLower, hiUpper) = Vector128.Widen(Vector128.LoadUnsafe(ref hi, (nuint)i));
                (loLower | (hiLower << 8)).StoreUnsafe(ref dst, (nuint)i);
                (loUpper | (hiUpper << 8)).StoreUnsafe(ref dst, (nuint)(i + 8));
            }
        }

        for (; i < destination.Length; i++)
        {
            destination[i] = (ushort)(low[i] | (high[i] << 8));
        }
    }
}
