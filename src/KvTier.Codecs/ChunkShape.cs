using KvTier.Core.Layout;

namespace KvTier.Codecs;

/// <summary>
/// What a per-layer chunk holds: <see cref="Tokens"/> rows of K followed by as many rows of V, each row
/// <see cref="ChannelsPerToken"/> elements (KV heads of the rank times head dim) of <see cref="DataType"/>.
/// Lossless codecs need only the data type (any byte length round-trips); lossy codecs need the whole shape.
/// </summary>
/// <param name="DataType">Element type.</param>
/// <param name="Tokens">Tokens in the chunk (0 when unknown, for lossless codecs).</param>
/// <param name="ChannelsPerToken">Elements per token per tensor (0 when unknown, for lossless codecs).</param>
public readonly record struct ChunkShape(KvDataType DataType, int Tokens = 0, int ChannelsPerToken = 0)
{
    /// <summary>The shape of one layer chunk of a block of <paramref name="layout"/>.</summary>
    public static ChunkShape ForLayout(KvLayout layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        return new ChunkShape(layout.DataType, layout.TokensPerBlock, layout.KvHeadsPerRank * layout.HeadDim);
    }

    /// <summary>Elements in the K tensor (equal to those in the V tensor).</summary>
    public long ElementsPerTensor => (long)Tokens * ChannelsPerToken;

    /// <summary>Bytes of the whole chunk (K and V) this shape describes.</summary>
    public long ChunkBytes => 2 * ElementsPerTensor * DataType.ElementSize();
}
