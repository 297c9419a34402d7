namespace KvTier.BlockDirectory;

/// <summary>The identity of one cache node, stable across restarts of that node (its incarnation is the epoch).</summary>
public readonly record struct NodeId(ulong Value)
{
    /// <summary>The 16-character lowercase hexadecimal form.</summary>
    public override string ToString() => Value.ToString("x16");
}
