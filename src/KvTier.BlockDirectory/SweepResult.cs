namespace KvTier.BlockDirectory;

/// <summary>What one sweep removed.</summary>
/// <param name="LapsedNodes">Nodes whose heartbeat had lapsed and that were dropped from the registry.</param>
/// <param name="RemovedEntries">Entries removed: on lapsed or unknown nodes, of stale epochs, or past their time to live.</param>
public readonly record struct SweepResult(int LapsedNodes, long RemovedEntries);
