using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Core;

/// <summary>
/// Whose and which KV data a block is: model and revision, KV layout, tenant, block hash algorithm and codec.
/// Blocks of different namespaces never match, because the namespace's <see cref="Id"/> roots every key chain.
/// </summary>
public sealed record KvNamespace
{
    /// <summary>Longest accepted model id, revision, tenant or codec name, in characters.</summary>
    public const int MaxNameLength = 256;

    /// <summary>Creates a validated namespace.</summary>
    /// <param name="modelId">Model identifier, for example "meta-llama/Meta-Llama-3-8B".</param>
    /// <param name="modelRevision">Model revision (weights change the KV), for example a commit or "main".</param>
    /// <param name="layout">KV layout of one tensor-parallel rank.</param>
    /// <param name="tenant">The tenant that owns the blocks.</param>
    /// <param name="hashAlgorithm">How block keys are chained.</param>
    /// <param name="codec">Codec name the blocks are encoded with (lossy codecs change the data).</param>
    /// <param name="vocabularySize">Token ids must be in [0, vocabularySize); 0 leaves the upper bound unchecked.</param>
    /// <exception cref="ArgumentException">A name is empty, too long or holds control characters, or the vocabulary
    /// size is negative.</exception>
    public KvNamespace(string modelId, string modelRevision, KvLayout layout, string tenant,
        BlockHashAlgorithm hashAlgorithm = BlockHashAlgorithm.Xxh3, string codec = "none", int vocabularySize = 0)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ModelId = RequireName(modelId, nameof(modelId));
        ModelRevision = RequireName(modelRevision, nameof(modelRevision));
        Tenant = RequireName(tenant, nameof(tenant));
        Codec = RequireName(codec, nameof(codec));
        _ = hashAlgorithm.Name(); // throws for an undefined value
        if (vocabularySize < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, "Vocabulary size cannot be negative.");
        }

        Layout = layout;
        HashAlgorithm = hashAlgorithm;
        VocabularySize = vocabularySize;
        Id = ComputeId();
    }

    /// <summary>Creates a namespace for a preset model.</summary>
    public static KvNamespace ForPreset(ModelPreset preset, string tenant, KvDataType dataType = KvDataType.BFloat16,
        int tokensPerBlock = 16, BlockHashAlgorithm hashAlgorithm = BlockHashAlgorithm.Xxh3, string revision = "main")
    {
        ArgumentNullException.ThrowIfNull(preset);
        return new KvNamespace(preset.ModelId, revision, preset.ToLayout(dataType, tokensPerBlock), tenant, hashAlgorithm,
            vocabularySize: preset.VocabularySize);
    }

    /// <summary>Model identifier.</summary>
    public string ModelId { get; }

    /// <summary>Model revision.</summary>
    public string ModelRevision { get; }

    /// <summary>KV layout of one rank.</summary>
    public KvLayout Layout { get; }

    /// <summary>Owning tenant.</summary>
    public string Tenant { get; }

    /// <summary>Block hash algorithm.</summary>
    public BlockHashAlgorithm HashAlgorithm { get; }

    /// <summary>Codec name.</summary>
    public string Codec { get; }

    /// <summary>Exclusive upper bound of token ids; 0 when unchecked.</summary>
    public int VocabularySize { get; }

    /// <summary>Stable 64-bit identity (XXH3-64 of a versioned canonical encoding of every field above).</summary>
    public NamespaceId Id { get; }

    private NamespaceId ComputeId()
    {
        // Versioned, length-prefixed encoding: changing it changes every id, so it is pinned by a test.
        var buffer = new ArrayBufferWriter<byte>(256);
        foreach (var text in (ReadOnlySpan<string>)["kvtier.namespace.v1", ModelId, ModelRevision, Tenant,
                     HashAlgorithm.Name(), Codec, Layout.DataType.Name()])
        {
            WriteInt32(buffer, Encoding.UTF8.GetByteCount(text));
            buffer.Advance(Encoding.UTF8.GetBytes(text, buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length))));
        }

        foreach (var value in (ReadOnlySpan<int>)[Layout.Layers, Layout.KvHeads, Layout.HeadDim, Layout.TokensPerBlock,
                     Layout.TensorParallelRank, Layout.TensorParallelSize, VocabularySize])
        {
            WriteInt32(buffer, value);
        }

        return new NamespaceId(XxHash3.HashToUInt64(buffer.WrittenSpan));
    }

    private static void WriteInt32(ArrayBufferWriter<byte> buffer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer.GetSpan(4), value);
        buffer.Advance(4);
    }

    private static string RequireName(string value, string name)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if (value.Length == 0 || value.Length > MaxNameLength)
        {
            throw new ArgumentException($"{name} must be 1 to {MaxNameLength} characters, got {value.Length}.", name);
        }

        if (value.Any(char.IsControl))
        {
            throw new ArgumentException($"{name} '{value.ReplaceLineEndings(" ")}' contains control characters.", name);
        }

        return value;
    }
}
