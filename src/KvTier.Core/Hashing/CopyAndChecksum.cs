using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace KvTier.Core.Hashing;

/// <summary>
/// Copies bytes and computes their XXH3-64 in one pass: each 64-byte stripe is loaded once, stored to the destination
/// and folded into the XXH3 accumulators from the same registers. A verified copy then costs about one memcpy instead
/// of a hash pass plus a copy pass (the node's verified reads; the client's copies out of a shared arena). Written from
/// the XXH3 specification (long-input path; a seed other than 0 derives the custom secret as the specification does);
/// inputs of 240 bytes or less, and machines without AVX2, copy and then call <see cref="XxHash3"/>. Tests check it
/// against <see cref="XxHash3"/> on many lengths and seeds.
/// </summary>
public static class CopyAndChecksum
{
    private const int StripeLength = 64;
    private const int SecretLength = 192;
    private const int StripesPerBlock = (SecretLength - StripeLength) / 8;
    private const int BlockLength = StripeLength * StripesPerBlock;
    private const ulong Prime32One = 0x9E3779B1UL;
    private const ulong Prime32Two = 0x85EBCA77UL;
    private const ulong Prime32Three = 0xC2B2AE3DUL;
    private const ulong Prime64One = 0x9E3779B185EBCA87UL;
    private const ulong Prime64Two = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime64Three = 0x165667B19E3779F9UL;
    private const ulong Prime64Four = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime64Five = 0x27D4EB2F165667C5UL;

    /// <summary>The XXH3 default secret (the specification's kSecret).</summary>
    private static ReadOnlySpan<byte> Secret =>
    [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
        0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
        0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
        0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
        0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
        0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
        0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
        0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
        0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
        0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
        0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
        0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    /// <summary>Copies <paramref name="source"/> to the start of <paramref name="destination"/> and returns its XXH3-64
    /// with <paramref name="seed"/> (what <c>XxHash3.HashToUInt64(source, seed)</c> returns).</summary>
    /// <exception cref="ArgumentException">The destination is shorter than the source.</exception>
    public static unsafe ulong Copy(ReadOnlySpan<byte> source, Span<byte> destination, long seed = 0)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes, the source {source.Length}.", nameof(destination));
        }

        if (source.Length <= 240 || !Avx2.IsSupported)
        {
            source.CopyTo(destination);
            return XxHash3.HashToUInt64(destination[..source.Length], seed);
        }

        Span<byte> custom = stackalloc byte[SecretLength];
        var secretBytes = seed == 0 ? Secret : DeriveSecret(seed, custom);
        fixed (byte* input = source)
        fixed (byte* output = destination)
        fixed (byte* secret = secretBytes)
        {
            return CopyLong(input, output, source.Length, secret);
        }
    }

    /// <summary>The specification's custom secret for a seed: each 16-byte pair of the default secret gets the seed
    /// added to its first half and subtracted from its second.</summary>
    private static ReadOnlySpan<byte> DeriveSecret(long seed, Span<byte> custom)
    {
        for (var i = 0; i < SecretLength; i += 16)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(custom[i..], BinaryPrimitives.ReadUInt64LittleEndian(Secret[i..]) + (ulong)seed);
            BinaryPrimitives.WriteUInt64LittleEndian(custom[(i + 8)..], BinaryPrimitives.ReadUInt64LittleEndian(Secret[(i + 8)..]) - (ulong)seed);
        }

        return custom;
    }

    private static unsafe ulong CopyLong(byte* input, byte* output, int length, byte* secret)
    {
        var low = Vector256.Create(Prime32Three, Prime64One, Prime64Two, Prime64Three);
        var high = Vector256.Create(Prime64Four, Prime32Two, Prime64Five, Prime32One);
        var blocks = (length - 1) / BlockLength;
        var position = 0;
        for (var block = 0; block < blocks; block++)
        {
            for (var stripe = 0; stripe < StripesPerBlock; stripe++, position += StripeLength)
            {
                Accumulate(ref low, ref high, input + position, output + position, secret + (stripe * 8));
            }

            Scramble(ref low, ref high, secret + SecretLength - StripeLength);
        }

        var stripes = (length - 1 - (blocks * BlockLength)) / StripeLength;
        for (var stripe = 0; stripe < stripes; stripe++, position += StripeLength)
        {
            Accumulate(ref low, ref high, input + position, output + position, secret + (stripe * 8));
        }

        // The last stripe always ends at the last byte (it may overlap the previous one; storing twice is harmless).
        Accumulate(ref low, ref high, input + length - StripeLength, output + length - StripeLength, secret + SecretLength - StripeLength - 7);
        return Merge(low, high, secret + 11, (ulong)length * Prime64One);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Accumulate(ref Vector256<ulong> low, ref Vector256<ulong> high, byte* input, byte* output, byte* secret)
    {
        var dataLow = Avx.LoadVector256(input).AsUInt64();
        var dataHigh = Avx.LoadVector256(input + 32).AsUInt64();
        Avx.Store(output, dataLow.AsByte());
        Avx.Store(output + 32, dataHigh.AsByte());
        low = Lane(low, dataLow, Avx.LoadVector256(secret).AsUInt64());
        high = Lane(high, dataHigh, Avx.LoadVector256(secret + 32).AsUInt64());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Lane(Vector256<ulong> accumulator, Vector256<ulong> data, Vector256<ulong> key)
    {
        var keyed = data ^ key;
        // Low 32 bits times high 32 bits of every 64-bit lane.
        var product = Avx2.Multiply(keyed.AsUInt32(), Avx2.ShiftRightLogical(keyed, 32).AsUInt32());
        // Each lane also takes its neighbour's data (lanes 0<->1, 2<->3).
        var swapped = Avx2.Shuffle(data.AsUInt32(), 0b01_00_11_10).AsUInt64();
        return accumulator + swapped + product;
    }

    private static unsafe void Scramble(ref Vector256<ulong> low, ref Vector256<ulong> high, byte* secret)
    {
        var prime = Vector256.Create(Prime32One);
        low = ((low ^ Avx2.ShiftRightLogical(low, 47)) ^ Avx.LoadVector256(secret).AsUInt64()) * prime;
        high = ((high ^ Avx2.ShiftRightLogical(high, 47)) ^ Avx.LoadVector256(secret + 32).AsUInt64()) * prime;
    }

    private static unsafe ulong Merge(Vector256<ulong> low, Vector256<ulong> high, byte* secret, ulong start)
    {
        Span<ulong> lanes = [low[0], low[1], low[2], low[3], high[0], high[1], high[2], high[3]];
        var result = start;
        for (var pair = 0; pair < 4; pair++)
        {
            var left = lanes[2 * pair] ^ BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(secret + (16 * pair), 8));
            var right = lanes[(2 * pair) + 1] ^ BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(secret + (16 * pair) + 8, 8));
            var productHigh = Math.BigMul(left, right, out var productLow);
            result += productLow ^ productHigh;
        }

        result ^= result >> 37;
        result *= 0x165667919E3779F9UL;
        return result ^ (result >> 32);
    }
}
