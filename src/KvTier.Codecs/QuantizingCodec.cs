using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.Intrinsics;
using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// Lossy codecs: each element becomes an 8- or 4-bit code relative to its group's offset and scale. With KIVI scales
/// a key group is one channel across the chunk's tokens (keys have outlier channels) and a value group is one token
/// across its channels; otherwise each tensor is one group. Payload: the group parameters for the K groups then the V
/// groups, then the K codes, then the V codes. Parameters are bf16 (float range, 2 bytes) rounded outward so the group's
/// range stays covered: fp8 stores its scale only (codes are value / scale, offset zero), the integer formats store
/// offset (the minimum, rounded down) and scale (rounded up). Decoding writes the chunk's own element type back.
/// Non-finite inputs do not take part in the ranges; they saturate (fp8 keeps NaN).
/// </summary>
internal sealed class QuantizingCodec(CodecId id, string name, QuantizedFormat format, bool kiviScales) : ChunkCodec
{
    public override CodecId Id => id;

    public override string Name => name;

    public override bool IsLossless => false;

    private int GroupBytes => format == QuantizedFormat.Float8E4M3 ? 2 : 4;

    // Shape-free worst case for 16-bit input: tokens + channels <= elements + 1 per tensor, 4 bytes per group.
    private protected override int MaxPayloadLength(int rawLength) =>
        checked((int)Math.Min(int.MaxValue, (2L * rawLength) + (2 * 4)));

    private protected override int MaxPayloadLength(int rawLength, ChunkShape shape)
    {
        var (keyGroups, valueGroups) = GroupCounts(shape.Tokens, shape.ChannelsPerToken);
        return checked((int)(((keyGroups + valueGroups) * (long)GroupBytes) + (2 * CodeBytes(shape.ElementsPerTensor))));
    }

    private protected override void ValidateInput(ReadOnlySpan<byte> chunk, ChunkShape shape)
    {
        if (!ElementConversion.IsQuantizable(shape.DataType))
        {
            throw new ArgumentException(
                $"Codec {Name} takes fp16, bf16 or fp32 chunks, not {shape.DataType.Name()}.", nameof(shape));
        }

        if (shape.Tokens == 0 || shape.ChannelsPerToken == 0 || chunk.Length != shape.ChunkBytes)
        {
            throw new ArgumentException(
                $"Codec {Name} needs the chunk's shape: {chunk.Length} bytes do not match {shape.Tokens} tokens x " +
                $"{shape.ChannelsPerToken} channels x 2 tensors of {shape.DataType.Name()} ({shape.ChunkBytes} bytes).",
                nameof(shape));
        }
    }

    private protected override int EncodePayload(ReadOnlySpan<byte> chunk, ChunkShape shape, Span<byte> destination)
    {
        var elements = (int)shape.ElementsPerTensor;
        var tensorBytes = elements * shape.DataType.ElementSize();
        var (keyGroups, valueGroups) = GroupCounts(shape.Tokens, shape.ChannelsPerToken);
        var parameters = destination[..((keyGroups + valueGroups) * GroupBytes)];
        var codeBytes = CodeBytes(elements);
        var codes = destination.Slice(parameters.Length, 2 * codeBytes);
        var scratch = ArrayPool<float>.Shared.Rent(elements + (2 * Math.Max(keyGroups, valueGroups)));
        try
        {
            var values = scratch.AsSpan(0, elements);
            var offsets = scratch.AsSpan(elements, Math.Max(keyGroups, valueGroups));
            var scales = scratch.AsSpan(elements + offsets.Length, offsets.Length);
            for (var tensor = 0; tensor < 2; tensor++)
            {
                var perChannel = kiviScales && tensor == 0;
                var groups = tensor == 0 ? keyGroups : valueGroups;
                ElementConversion.ToFloat(chunk.Slice(tensor * tensorBytes, tensorBytes), shape.DataType, values);
                ComputeGroups(values, shape.ChannelsPerToken, perChannel, groups, offsets[..groups], scales[..groups]);
                var groupParameters = parameters.Slice(tensor * keyGroups * GroupBytes, groups * GroupBytes);
                WriteParameters(offsets[..groups], scales[..groups], groupParameters);

                Quantize(values, shape.ChannelsPerToken, perChannel, groups, offsets[..groups], scales[..groups],
                    codes.Slice(tensor * codeBytes, codeBytes));
            }

            return parameters.Length + codes.Length;
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    private protected override void DecodePayload(ReadOnlySpan<byte> payload, in ChunkHeader header, Span<byte> destination)
    {
        var shape = new ChunkShape(header.DataType, header.Tokens, header.ChannelsPerToken);
        if (!ElementConversion.IsQuantizable(header.DataType) || header.Tokens == 0 || header.ChannelsPerToken == 0 ||
            shape.ChunkBytes != header.RawLength)
        {
            throw new ChunkFormatException(
                $"A {Name} chunk's header is inconsistent: {header.RawLength} raw bytes for {header.Tokens} tokens x " +
                $"{header.ChannelsPerToken} channels of {header.DataType.Name()}.");
        }

        var elements = (int)shape.ElementsPerTensor;
        var tensorBytes = elements * header.DataType.ElementSize();
        var (keyGroups, valueGroups) = GroupCounts(header.Tokens, header.ChannelsPerToken);
        var codeBytes = CodeBytes(elements);
        var expected = ((keyGroups + valueGroups) * (long)GroupBytes) + (2L * codeBytes);
        if (payload.Length != expected)
        {
            throw new ChunkFormatException(
                $"A {Name} payload of {header.Tokens} tokens x {header.ChannelsPerToken} channels is {expected} bytes; got {payload.Length}.");
        }

        var parameters = payload[..((keyGroups + valueGroups) * GroupBytes)];
        var codes = payload[parameters.Length..];
        var scratch = ArrayPool<float>.Shared.Rent(elements);
        try
        {
            var values = scratch.AsSpan(0, elements);
            for (var tensor = 0; tensor < 2; tensor++)
            {
                var perChannel = kiviScales && tensor == 0;
                var groups = tensor == 0 ? keyGroups : valueGroups;
                Dequantize(codes.Slice(tensor * codeBytes, codeBytes), parameters.Slice(tensor * keyGroups * GroupBytes, groups * GroupBytes),
                    header.ChannelsPerToken, perChannel, groups, values);
                ElementConversion.FromFloat(values, header.DataType, destination.Slice(tensor * tensorBytes, tensorBytes));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    private (int Keys, int Values) GroupCounts(int tokens, int channels) =>
        kiviScales ? (channels, tokens) : (1, 1);

    private int CodeBytes(long elements) =>
        checked((int)(format == QuantizedFormat.Int4 ? (elements + 1) / 2 : elements));

    private float Levels => format switch
    {
        QuantizedFormat.Int8 => 255f,
        QuantizedFormat.Int4 => 15f,
        _ => Float8E4M3.MaxFinite,
    };

    private void ComputeGroups(ReadOnlySpan<float> values, int channels, bool perChannel, int groups,
        Span<float> offsets, Span<float> scales)
    {
        // offsets hold the running minimum and scales the running maximum until the last step.
        offsets.Fill(float.PositiveInfinity);
        scales.Fill(float.NegativeInfinity);
        for (int row = 0, i = 0; i < values.Length; row++)
        {
            for (var c = 0; c < channels; c++, i++)
            {
                var value = values[i];
                if (!float.IsFinite(value))
                {
                    continue;
                }

                var g = groups == 1 ? 0 : perChannel ? c : row;
                if (format == QuantizedFormat.Float8E4M3)
                {
                    value = Math.Abs(value);
                }

                offsets[g] = Math.Min(offsets[g], value);
                scales[g] = Math.Max(scales[g], value);
            }
        }

        for (var g = 0; g < groups; g++)
        {
            var (min, max) = float.IsFinite(offsets[g]) ? (offsets[g], scales[g]) : (0f, 0f);
            (offsets[g], scales[g]) = format == QuantizedFormat.Float8E4M3
                ? (0f, max / Float8E4M3.MaxFinite)
                : (min, (max - min) / Levels);
            if (!float.IsFinite(scales[g]))
            {
                scales[g] = float.MaxValue / Levels; // a range wider than float: saturate rather than lose the group
            }

            // Quantize against the stored (bf16) parameters, rounded outward so the range stays covered.
            offsets[g] = ElementConversion.BFloat16ToFloat(RoundToBFloat16(offsets[g], up: false));
            if (format != QuantizedFormat.Float8E4M3)
            {
                scales[g] = (max - offsets[g]) / Levels;
            }

            scales[g] = ElementConversion.BFloat16ToFloat(RoundToBFloat16(scales[g], up: true));
        }
    }

    /// <summary>bf16 bits of <paramref name="value"/> rounded toward +infinity or -infinity (finite input).</summary>
    private static ushort RoundToBFloat16(float value, bool up)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        var truncated = (ushort)(bits >> 16); // toward zero
        if ((bits & 0xFFFF) == 0)
        {
            return truncated;
        }

        var rounded = (value > 0) == up ? (ushort)(truncated + 1) : truncated;
        return float.IsFinite(ElementConversion.BFloat16ToFloat(rounded)) ? rounded : truncated;
    }

    private void WriteParameters(ReadOnlySpan<float> offsets, ReadOnlySpan<float> scales, Span<byte> destination)
    {
        for (var g = 0; g < offsets.Length; g++)
        {
            // Both are already exact bf16 values, so truncation keeps them as they are.
            var scale = (ushort)(BitConverter.SingleToUInt32Bits(scales[g]) >> 16);
            if (format == QuantizedFormat.Float8E4M3)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * g)..], scale);
            }
            else
            {
                BinaryPrimitives.WriteUInt16LittleEndian(destination[(4 * g)..], (ushort)(BitConverter.SingleToUInt32Bits(offsets[g]) >> 16));
                BinaryPrimitives.WriteUInt16LittleEndian(destination[((4 * g) + 2)..], scale);
            }
        }
    }

    private (float Offset, float Scale) ReadParameters(ReadOnlySpan<byte> parameters, int group) =>
        format == QuantizedFormat.Float8E4M3
            ? (0f, ElementConversion.BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(parameters[(2 * group)..])))
            : (ElementConversion.BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(parameters[(4 * group)..])),
               ElementConversion.BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(parameters[((4 * group) + 2)..])));

    private void Quantize(Span<float> values, int channels, bool perChannel, int groups,
        ReadOnlySpan<float> offsets, ReadOnlySpan<float> scales, Span<byte> codes)
    {
        // Two tight passes: (value - offset) / scale in place, vectorised per group, then one code per element.
        var scratch = ArrayPool<float>.Shared.Rent(2 * groups);
        try
        {
            var inverses = scratch.AsSpan(0, groups);
            var shifts = scratch.AsSpan(groups, groups);
            for (var g = 0; g < groups; g++)
            {
                inverses[g] = scales[g] > 0 ? 1 / scales[g] : 0;
                shifts[g] = -offsets[g] * inverses[g];
            }

            for (var row = 0; row * channels < values.Length; row++)
            {
                var rowValues = values.Slice(row * channels, channels);
                if (perChannel)
                {
                    MultiplyAdd(rowValues, inverses, shifts);
                }
                else
                {
                    var g = groups == 1 ? 0 : row;
                    MultiplyAdd(rowValues, inverses[g], shifts[g]);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }

        switch (format)
        {
            case QuantizedFormat.Float8E4M3:
                for (var i = 0; i < values.Length; i++)
                {
                    codes[i] = Float8E4M3.FromFloat(values[i]);
                }

                break;
            case QuantizedFormat.Int8:
                for (var i = 0; i < values.Length; i++)
                {
                    codes[i] = Level(values[i], 255);
                }

                break;
            default:
                for (var i = 0; i + 1 < values.Length; i += 2)
                {
                    codes[i >> 1] = (byte)(Level(values[i], 15) | (Level(values[i + 1], 15) << 4));
                }

                if ((values.Length & 1) != 0)
                {
                    codes[values.Length >> 1] = Level(values[^1], 15);
                }

                break;
        }
    }

    /// <summary>The nearest level in [0, max]; NaN becomes level 0.</summary>
    private static byte Level(float scaled, float max) =>
        (byte)Math.Clamp(MathF.Round(float.IsNaN(scaled) ? 0 : scaled), 0, max);

    private void Dequantize(ReadOnlySpan<byte> codes, ReadOnlySpan<byte> parameters, int channels, bool perChannel,
        int groups, Span<float> values)
    {
        // Two tight passes instead of one branchy one: codes to levels, then level * scale + offset per group.
        switch (format)
        {
            case QuantizedFormat.Float8E4M3:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = Float8E4M3.ToFloat(codes[i]);
                }

                break;
            case QuantizedFormat.Int8:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = codes[i];
                }

                break;
            default:
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (codes[i >> 1] >> ((i & 1) * 4)) & 0xF;
                }

                break;
        }

        var scratch = ArrayPool<float>.Shared.Rent(2 * groups);
        try
        {
            var offsets = scratch.AsSpan(0, groups);
            var scales = scratch.AsSpan(groups, groups);
            for (var g = 0; g < groups; g++)
            {
                (offsets[g], scales[g]) = ReadParameters(parameters, g);
            }

            for (var row = 0; row * channels < values.Length; row++)
            {
                var rowValues = values.Slice(row * channels, channels);
                if (perChannel)
                {
                    MultiplyAdd(rowValues, scales, offsets);
                }
                else
                {
                    var g = groups == 1 ? 0 : row;
                    MultiplyAdd(rowValues, scales[g], offsets[g]);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(scratch);
        }
    }

    /// <summary>values[c] = values[c] * scales[c] + offsets[c].</summary>
    private static void MultiplyAdd(Span<float> values, ReadOnlySpan<float> scales, ReadOnlySpan<float> offsets)
    {
        var c = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            for (; c + 4 <= values.Length; c += 4)
            {
                var v = Vector128.Create<float>(values[c..]);
                ((v * Vector128.Create<float>(scales[c..])) + Vector128.Create<float>(offsets[c..])).CopyTo(values[c..]);
            }
        }

        for (; c < values.Length; c++)
        {
            values[c] = (values[c] * scales[c]) + offsets[c];
        }
    }

    /// <summary>values[c] = values[c] * scale + offset.</summary>
    private static void MultiplyAdd(Span<float> values, float scale, float offset)
    {
        var c = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var scales = Vector128.Create(scale);
            var offsets = Vector128.Create(offset);
            for (; c + 4 <= values.Length; c += 4)
            {
                ((Vector128.Create<float>(values[c..]) * scales) + offsets).CopyTo(values[c..]);
            }
        }

        for (; c < values.Length; c++)
        {
            values[c] = (values[c] * scale) + offset;
        }
    }
}
