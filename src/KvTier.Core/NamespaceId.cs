namespace KvTier.Core;

/// <summary>
/// Stable 64-bit identity of a <see cref="KvNamespace"/>: the same on every machine and in every process, so it can
/// be stored in block headers, directory keys and NVMe records.
/// </summary>
public readonly record struct NamespaceId(ulong Value)
{
    /// <summary>The 16-character lowercase hexadecimal form.</summary>
    public override string ToString() => Value.ToString("x16");
}
