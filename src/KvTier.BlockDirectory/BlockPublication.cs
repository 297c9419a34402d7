namespace KvTier.BlockDirectory;

/// <summary>One location to publish for one block.</summary>
/// <param name="Key">The block.</param>
/// <param name="Location">Where the copy is.</param>
/// <param name="TimeToLive">How long the entry stays visible; null: until unpublished or its node lapses.</param>
public readonly record struct BlockPublication(DirectoryKey Key, BlockLocation Location, TimeSpan? TimeToLive = null);
