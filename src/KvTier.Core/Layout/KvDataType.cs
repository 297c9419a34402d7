namespace KvTier.Core.Layout;

/// <summary>Element type of the stored K and V tensors.</summary>
public enum KvDataType
{
    /// <summary>IEEE 754 half precision (2 bytes).</summary>
    Float16 = 1,

    /// <summary>bfloat16 (2 bytes).</summary>
    BFloat16 = 2,

    /// <summary>FP8 E4M3 (1 byte); what engines call plain "fp8".</summary>
    Float8E4M3 = 3,

    /// <summary>FP8 E5M2 (1 byte).</summary>
    Float8E5M2 = 4,

    /// <summary>IEEE 754 single precision (4 bytes); small models and reference data.</summary>
    Float32 = 5,
}

/// <summary>Sizes and names of <see cref="KvDataType"/> values.</summary>
public static class KvDataTypes
{
    /// <summary>Bytes per element.</summary>
    public static int ElementSize(this KvDataType dataType) => dataType switch
    {
        KvDataType.Float16 or KvDataType.BFloat16 => 2,
        KvDataType.Float8E4M3 or KvDataType.Float8E5M2 => 1,
        KvDataType.Float32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, $"Unknown KV data type {(int)dataType}."),
    };

    /// <summary>The canonical short name ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp32").</summary>
    public static string Name(this KvDataType dataType) => dataType switch
    {
        KvDataType.Float16 => "fp16",
        KvDataType.BFloat16 => "bf16",
        KvDataType.Float8E4M3 => "fp8_e4m3",
        KvDataType.Float8E5M2 => "fp8_e5m2",
        KvDataType.Float32 => "fp32",
        _ => throw new ArgumentOutOfRangeException(nameof(dataType), dataType, $"Unknown KV data type {(int)dataType}."),
    };

    /// <summary>Parses a data type name as engines spell it ("fp16", "float16", "half", "bf16", "bfloat16",
    /// "fp8", "fp8_e4m3", "fp8_e5m2", "fp32", "float32").</summary>
    /// <exception cref="ArgumentException">The name is not a known KV data type.</exception>
    public static KvDataType Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "fp16" or "float16" or "half" => KvDataType.Float16,
            "bf16" or "bfloat16" => KvDataType.BFloat16,
            "fp8" or "fp8_e4m3" or "float8_e4m3fn" or "e4m3" => KvDataType.Float8E4M3,
            "fp8_e5m2" or "float8_e5m2" or "e5m2" => KvDataType.Float8E5M2,
            "fp32" or "float32" or "float" => KvDataType.Float32,
            _ => throw new ArgumentException(
                $"Unknown KV data type '{name}'. Known: fp16, bf16, fp8 (fp8_e4m3), fp8_e5m2, fp32.", nameof(name)),
        };
    }
}
