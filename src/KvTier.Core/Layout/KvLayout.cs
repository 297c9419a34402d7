namespace KvTier.Core.Layout;

/// <summary>
/// Shape of the KV data one tensor-parallel rank holds for a model. One block is <see cref="TokensPerBlock"/>
/// tokens; it is stored as <see cref="Layers"/> per-layer chunks that can be read on their own. A layer chunk is the
/// K tensor followed by the V tensor, each laid out as [token, KV head of this rank, head dim] in row-major order.
/// </summary>
public sealed record KvLayout
{
    /// <summary>Largest accepted layer count.</summary>
    public const int MaxLayers = 1024;

    /// <summary>Largest accepted KV head count (before tensor-parallel sharding).</summary>
    public const int MaxKvHeads = 1024;

    /// <summary>Largest accepted head dimension.</summary>
    public const int MaxHeadDim = 4096;

    /// <summary>Largest accepted block length in tokens.</summary>
    public const int MaxTokensPerBlock = 65536;

    /// <summary>Largest accepted tensor-parallel size.</summary>
    public const int MaxTensorParallelSize = 1024;

    /// <summary>Largest accepted block payload (1 GiB): anything larger is a configuration mistake.</summary>
    public const long MaxBlockBytes = 1L << 30;

    /// <summary>Creates a validated layout.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is zero, negative or absurdly large, or the
    /// tensor-parallel split does not divide the KV heads.</exception>
    public KvLayout(int layers, int kvHeads, int headDim, KvDataType dataType, int tokensPerBlock,
        int tensorParallelRank = 0, int tensorParallelSize = 1)
    {
        RequireInRange(layers, 1, MaxLayers, nameof(layers));
        RequireInRange(kvHeads, 1, MaxKvHeads, nameof(kvHeads));
        RequireInRange(headDim, 1, MaxHeadDim, nameof(headDim));
        RequireInRange(tokensPerBlock, 1, MaxTokensPerBlock, nameof(tokensPerBlock));
        RequireInRange(tensorParallelSize, 1, MaxTensorParallelSize, nameof(tensorParallelSize));
        RequireInRange(tensorParallelRank, 0, tensorParallelSize - 1, nameof(tensorParallelRank));
        _ = dataType.ElementSize(); // throws for an undefined enum value

        // Engines shard KV heads across ranks, or replicate them when there are fewer heads than ranks.
        if (kvHeads >= tensorParallelSize ? kvHeads % tensorParallelSize != 0 : tensorParallelSize % kvHeads != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(tensorParallelSize), tensorParallelSize,
                $"Tensor-parallel size {tensorParallelSize} must divide, or be a multiple of, the {kvHeads} KV heads.");
        }

        Layers = layers;
        KvHeads = kvHeads;
        HeadDim = headDim;
        DataType = dataType;
        TokensPerBlock = tokensPerBlock;
        TensorParallelRank = tensorParallelRank;
        TensorParallelSize = tensorParallelSize;

        var blockBytes = 2L * KvHeadsPerRank * headDim * dataType.ElementSize() * tokensPerBlock * layers;
        if (blockBytes > MaxBlockBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(tokensPerBlock), tokensPerBlock,
                $"One block would be {blockBytes} bytes, more than the {MaxBlockBytes}-byte limit: use fewer tokens per block.");
        }
    }

    /// <summary>Transformer layers.</summary>
    public int Layers { get; }

    /// <summary>KV heads of the whole model (before sharding).</summary>
    public int KvHeads { get; }

    /// <summary>Elements per head.</summary>
    public int HeadDim { get; }

    /// <summary>Element type of K and V.</summary>
    public KvDataType DataType { get; }

    /// <summary>Tokens per block.</summary>
    public int TokensPerBlock { get; }

    /// <summary>This rank's index in the tensor-parallel group.</summary>
    public int TensorParallelRank { get; }

    /// <summary>Ranks in the tensor-parallel group.</summary>
    public int TensorParallelSize { get; }

    /// <summary>KV heads this rank holds (sharded, or one replicated head when heads &lt; ranks).</summary>
    public int KvHeadsPerRank => Math.Max(1, KvHeads / TensorParallelSize);

    /// <summary>Bytes of K (or of V) for one token in one layer on this rank.</summary>
    public int BytesPerTokenPerLayerPerTensor => KvHeadsPerRank * HeadDim * DataType.ElementSize();

    /// <summary>Bytes of K and V for one token, all layers, on this rank.</summary>
    public long BytesPerToken => 2L * BytesPerTokenPerLayerPerTensor * Layers;

    /// <summary>Bytes of one per-layer chunk (K then V for every token of the block).</summary>
    public int BytesPerLayerChunk => 2 * BytesPerTokenPerLayerPerTensor * TokensPerBlock;

    /// <summary>Bytes of one whole block (all layer chunks).</summary>
    public long BytesPerBlock => (long)BytesPerLayerChunk * Layers;

    /// <summary>A one-line description, for logs.</summary>
    public override string ToString() =>
        $"{Layers} layers x {KvHeads} KV heads x {HeadDim} dims, {DataType.Name()}, {TokensPerBlock} tokens/block, " +
        $"TP {TensorParallelRank}/{TensorParallelSize} ({BytesPerBlock} B/block)";

    private static void RequireInRange(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be in [{min}, {max}], got {value}.");
        }
    }
}
