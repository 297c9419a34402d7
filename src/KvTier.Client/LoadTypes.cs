using KvTier.BlockDirectory;
using KvTier.Core;

namespace KvTier.Client;

/// <summary>Which layers of the cached prefix to load, and where to report progress.</summary>
public sealed record LoadOptions
{
    /// <summary>First layer to load.</summary>
    public int FirstLayer { get; init; }

    /// <summary>Layers to load (0: every layer from <see cref="FirstLayer"/>).</summary>
    public int LayerCount { get; init; }

    /// <summary>Most leading blocks of the prefix to load (default: all hits).</summary>
    public int MaxBlocks { get; init; } = int.MaxValue;

    /// <summary>Called once per layer, as soon as every block's chunk of that layer is final (decoded and verified, or
    /// failed everywhere), so an engine can run layer i while layer i + 1 is still loading. Runs on a receive thread:
    /// keep it short (signal, do not compute).</summary>
    public Action<LayerLoaded>? LayerLoaded { get; init; }
}

/// <summary>A layer finished loading.</summary>
/// <param name="Layer">The layer (absolute, not relative to <see cref="LoadOptions.FirstLayer"/>).</param>
/// <param name="UsableBlocks">Leading blocks whose chunk of this layer is in the destination, verified.</param>
public readonly record struct LayerLoaded(int Layer, int UsableBlocks);

/// <summary>Outcome of a load. Only the first <see cref="LoadedBlocks"/> blocks of the destination hold valid data
/// (every requested layer decoded and verified); the bytes of later blocks must be ignored.</summary>
/// <param name="LoadedBlocks">Length of the usable prefix, in blocks.</param>
/// <param name="RequestedBlocks">Blocks the load asked for.</param>
/// <param name="FirstFailure">Why the prefix ends before <paramref name="RequestedBlocks"/> (null when it does not).</param>
public sealed record LoadResult(int LoadedBlocks, int RequestedBlocks, string? FirstFailure);

/// <summary>Whether a direct load can run, and why (or why not).</summary>
/// <param name="IsPossible">True when every node serving the prefix is reached over RDMA and the target is registered.</param>
/// <param name="Reason">What was found, in words.</param>
public sealed record DirectLoadCheck(bool IsPossible, string Reason);

/// <summary>Outcome of a store.</summary>
/// <param name="Stored">Blocks that now have at least one new copy on a node.</param>
/// <param name="AlreadyCached">Blocks skipped because the directory or a node already had them.</param>
/// <param name="Failed">Blocks no node accepted (no live node, no space, draining, unreachable).</param>
public sealed record StoreResult(int Stored, int AlreadyCached, int Failed);

/// <summary>The chain a token sequence hashes to, and its cached prefix.</summary>
/// <param name="Chain">Block keys of the sequence's full blocks, in order.</param>
/// <param name="Prefix">The leading blocks cached on live nodes.</param>
public sealed record TokenLookup(BlockKey[] Chain, PrefixLookup Prefix);
