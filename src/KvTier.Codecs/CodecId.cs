namespace KvTier.Codecs;

/// <summary>
/// Stable numeric identity of a chunk codec, recorded in every encoded chunk header. Values are part of the stored
/// format: never renumber one, only add.
/// </summary>
public enum CodecId : byte
{
    /// <summary>No compression: the chunk bytes as they are ("none").</summary>
    None = 0,

    /// <summary>LZ4 over the raw bytes ("lz4").</summary>
    Lz4 = 1,

    /// <summary>Byte planes of each element, each plane LZ4-compressed or stored raw ("split-lz4").</summary>
    SplitLz4 = 2,

    /// <summary>Byte planes of each element, each plane Huffman-coded or stored raw ("split-huffman").</summary>
    SplitHuffman = 3,

    /// <summary>Lossy: FP8 E4M3 with one scale per tensor, exactly half of a 16-bit chunk plus a few bytes ("fp8").</summary>
    Fp8 = 16,

    /// <summary>Lossy: FP8 E4M3 with per-channel key scales and per-token value scales ("fp8-kivi").</summary>
    Fp8Kivi = 17,

    /// <summary>Lossy: 8-bit asymmetric integers, per-channel keys and per-token values ("int8-kivi").</summary>
    Int8Kivi = 18,

    /// <summary>Lossy: 4-bit asymmetric integers, per-channel keys and per-token values ("int4-kivi").</summary>
    Int4Kivi = 19,
}
