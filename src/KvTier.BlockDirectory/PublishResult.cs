namespace KvTier.BlockDirectory;

/// <summary>What became of a batch of publications.</summary>
/// <param name="Published">Entries written.</param>
/// <param name="Dropped">Entries not written because the directory's store was unreachable; they are counted in
/// <see cref="DirectoryCounters.DroppedPublications"/> and not retried (the directory is a hint; the block is still
/// on its node and a later publish or lookup miss costs only a recomputation).</param>
public readonly record struct PublishResult(int Published, int Dropped);
