namespace KvTier.BlockDirectory;

/// <summary>Where one copy of a block is: node, tier, encoded size and the node incarnation that stored it.</summary>
/// <param name="Node">The node holding the copy.</param>
/// <param name="Tier">The tier on that node.</param>
/// <param name="SizeBytes">Encoded size of the block on the node, in bytes (positive).</param>
/// <param name="Epoch">The node's incarnation (see <see cref="NodeInfo.Epoch"/>) when it stored the block; the location
/// is valid only while the node is live with the same epoch.</param>
public readonly record struct BlockLocation(NodeId Node, StorageTier Tier, int SizeBytes, ulong Epoch)
{
    /// <summary>Throws a clear error when a field cannot be stored.</summary>
    public void Validate()
    {
        if (Tier is not (StorageTier.Host or StorageTier.Nvme))
        {
            throw new ArgumentException($"Location on node {Node} has unknown tier {(byte)Tier}.", nameof(Tier));
        }

        if (SizeBytes <= 0)
        {
            throw new ArgumentException($"Location on node {Node} has size {SizeBytes}; a block size must be positive.", nameof(SizeBytes));
        }
    }
}
