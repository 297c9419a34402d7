namespace KvTier.Codecs;

/// <summary>How a lossy codec stores one element.</summary>
internal enum QuantizedFormat
{
    /// <summary>FP8 E4M3 of value / scale (offset zero): relative precision, good for heavy-tailed keys.</summary>
    Float8E4M3,

    /// <summary>Unsigned 8-bit level between the group's min and max.</summary>
    Int8,

    /// <summary>Unsigned 4-bit level between the group's min and max, two per byte (low nibble first).</summary>
    Int4,
}
