using System.Collections.Immutable;
using KvTier.Core;

namespace KvTier.BlockDirectory;

/// <summary>One block of a found prefix and its live copies (at least one).</summary>
/// <param name="Key">The block key.</param>
/// <param name="Locations">The live copies, host tier first.</param>
public sealed record BlockHit(BlockKey Key, ImmutableArray<BlockLocation> Locations);
