namespace KvTier.Codecs;

/// <summary>
/// FP8 E4M3 ("e4m3fn", as in NVIDIA/OCP FP8): 1 sign, 4 exponent (bias 7), 3 mantissa bits; largest finite 448,
/// no infinities, 0x7F/0xFF are NaN. Conversion from float rounds to nearest even and saturates to +-448.
/// </summary>
internal static class Float8E4M3
{
    public const float MaxFinite = 448f;

    private const byte NaN = 0x7F;
    private const byte MaxFiniteCode = 0x7E;

    // 2^-6 is the smallest normal; below it the step is 2^-9.
    private const float MinNormal = 1f / 64;
    private const float SubnormalStep = 1f / 512;

    private static readonly float[] Decoded = BuildTable();

    /// <summary>The float value of an E4M3 code.</summary>
    public static float ToFloat(byte code) => Decoded[code];

    /// <summary>The nearest E4M3 code (ties to even), saturating beyond +-448; NaN stays NaN.</summary>
    public static byte FromFloat(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        var sign = (byte)((bits >> 24) & 0x80);
        var magnitude = Math.Abs(value);
        if (float.IsNaN(value))
        {
            return (byte)(sign | NaN);
        }

        if (magnitude < MinNormal)
        {
            // Subnormal: the code is the number of 2^-9 steps (8 steps lands exactly on the smallest normal, code 8).
            return (byte)(sign | (int)MathF.Round(magnitude / SubnormalStep, MidpointRounding.ToEven));
        }

        // Round the float's exponent-and-mantissa field to 3 mantissa bits (ties to even), then rebias 127 -> 7.
        var field = BitConverter.SingleToUInt32Bits(magnitude);
        var rounded = (field + 0x7FFFFu + ((field >> 20) & 1)) >> 20;
        var code = (long)rounded - ((127 - 7) << 3);
        return (byte)(sign | (code > MaxFiniteCode ? MaxFiniteCode : (byte)code));
    }

    private static float[] BuildTable()
    {
        var table = new float[256];
        for (var code = 0; code < 256; code++)
        {
            var exponent = (code >> 3) & 0xF;
            var mantissa = code & 7;
            var magnitude = exponent == 0
                ? mantissa * SubnormalStep
                : (1 + (mantissa / 8f)) * MathF.Pow(2, exponent - 7);
            if ((code & 0x7F) == NaN)
            {
                magnitude = float.NaN;
            }

            table[code] = (code & 0x80) != 0 ? -magnitude : magnitude;
        }

        return table;
    }
}
