namespace KvTier.Core.Hashing;

/// <summary>How block keys are chained.</summary>
public enum BlockHashAlgorithm
{
    /// <summary>XXH3-128 over (parent key, little-endian int32 token ids, extra keys): fast, the default.</summary>
    Xxh3 = 1,

    /// <summary>vLLM's <c>sha256_cbor</c>: SHA-256 of canonical CBOR of (parent digest, token tuple, extra keys or
    /// None). Slower; keys can match what vLLM emits in its KV events.</summary>
    Sha256Cbor = 2,
}

/// <summary>Names of <see cref="BlockHashAlgorithm"/> values.</summary>
public static class BlockHashAlgorithms
{
    /// <summary>The configuration name ("xxh3-128" or "sha256_cbor").</summary>
    public static string Name(this BlockHashAlgorithm algorithm) => algorithm switch
    {
        BlockHashAlgorithm.Xxh3 => "xxh3-128",
        BlockHashAlgorithm.Sha256Cbor => "sha256_cbor",
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, $"Unknown block hash algorithm {(int)algorithm}."),
    };

    /// <summary>Parses "xxh3-128" (also "xxh3") or "sha256_cbor".</summary>
    /// <exception cref="ArgumentException">The name is not a known algorithm.</exception>
    public static BlockHashAlgorithm Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Trim().ToLowerInvariant() switch
        {
            "xxh3-128" or "xxh3_128" or "xxh3" => BlockHashAlgorithm.Xxh3,
            "sha256_cbor" or "sha256-cbor" => BlockHashAlgorithm.Sha256Cbor,
            _ => throw new ArgumentException($"Unknown block hash algorithm '{name}'. Known: xxh3-128, sha256_cbor.", nameof(name)),
        };
    }
}
