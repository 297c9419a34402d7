namespace KvTier.Core.Layout;

/// <summary>Published attention shape of a model: what its KV cache looks like before choosing a data type,
/// block length and tensor-parallel split.</summary>
/// <param name="Name">Short preset name used on command lines.</param>
/// <param name="ModelId">The model's hub identifier.</param>
/// <param name="Layers">Transformer layers.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention).</param>
/// <param name="HeadDim">Elements per head.</param>
/// <param name="VocabularySize">Token ids are in [0, VocabularySize).</param>
public sealed record ModelPreset(string Name, string ModelId, int Layers, int KvHeads, int HeadDim, int VocabularySize)
{
    /// <summary>The layout of this model's KV cache for one rank.</summary>
    public KvLayout ToLayout(KvDataType dataType = KvDataType.BFloat16, int tokensPerBlock = 16,
        int tensorParallelRank = 0, int tensorParallelSize = 1) =>
        new(Layers, KvHeads, HeadDim, dataType, tokensPerBlock, tensorParallelRank, tensorParallelSize);
}
