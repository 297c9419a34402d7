using KvTier.Core;

namespace KvTier.Storage;

/// <summary>What the engine stores a block under: the namespace and the block's chained key.</summary>
public readonly record struct BlockId(NamespaceId Namespace, BlockKey Key)
{
    /// <summary>A well-mixed 64-bit hash (keys are already hashes; the namespace is folded in).</summary>
    public ulong Hash => (Key.Low ^ (Key.High * 0x9E3779B97F4A7C15UL) ^ (Namespace.Value * 0xC2B2AE3D27D4EB4FUL)) * 0xFF51AFD7ED558CCDUL;

    /// <inheritdoc/>
    public override string ToString() => $"{Namespace}/{Key}";
}
