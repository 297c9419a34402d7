using System.ComponentModel;
using System.Globalization;

namespace KvTier.Node.Configuration;

/// <summary>A byte count written the way operators write it: "8GiB", "512MiB", "64k", "1073741824".
/// Binary units (KiB, MiB, GiB, TiB, and K/M/G/T as their short forms); decimal units (KB, MB, GB, TB).</summary>
[TypeConverter(typeof(ByteSizeConverter))]
public readonly record struct ByteSize(long Bytes)
{
    /// <summary>Parses a size.</summary>
    /// <exception cref="FormatException">The text is not a non-negative size with a known unit.</exception>
    public static ByteSize Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var split = 0;
        while (split < trimmed.Length && (char.IsAsciiDigit(trimmed[split]) || trimmed[split] == '.'))
        {
            split++;
        }

        var unit = trimmed[split..].Trim().ToUpperInvariant();
        long multiplier = unit switch
        {
            "" or "B" => 1,
            "K" or "KI" or "KIB" => 1L << 10,
            "M" or "MI" or "MIB" => 1L << 20,
            "G" or "GI" or "GIB" => 1L << 30,
            "T" or "TI" or "TIB" => 1L << 40,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            _ => 0,
        };
        if (split == 0 || multiplier == 0
            || !double.TryParse(trimmed[..split], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            || number * multiplier > long.MaxValue)
        {
            throw new FormatException($"'{text}' is not a size: use a number with an optional unit such as 512MiB, 8GiB or 64k.");
        }

        return new ByteSize((long)(number * multiplier));
    }

    /// <summary>The shortest exact binary form ("8GiB"), or plain bytes.</summary>
    public override string ToString()
    {
        foreach (var (unit, shift) in new[] { ("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10) })
        {
            if (Bytes != 0 && Bytes % (1L << shift) == 0)
            {
                return $"{Bytes >> shift}{unit}";
            }
        }

        return $"{Bytes}B";
    }
}

/// <summary>Lets configuration binding turn "8GiB" into a <see cref="ByteSize"/>.</summary>
public sealed class ByteSizeConverter : TypeConverter
{
    /// <inheritdoc/>
    public override bool CanConvertFrom(ITypeDescriptorContext? context, Type sourceType) =>
        sourceType == typeof(string) || base.CanConvertFrom(context, sourceType);

    /// <inheritdoc/>
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text ? ByteSize.Parse(text) : base.ConvertFrom(context, culture, value);
}
