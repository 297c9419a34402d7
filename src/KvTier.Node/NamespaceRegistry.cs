using System.Collections.Concurrent;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Transport.ControlPlane;

namespace KvTier.Node;

/// <summary>The namespaces a node serves. Data-plane requests naming any other namespace are refused, so a
/// client cannot store or probe blocks under an id nobody registered. After <see cref="OpenFile"/> every change is
/// persisted (<see cref="NamespaceFile"/>) before it takes effect, so a restarted node serves the namespaces it had.</summary>
public sealed class NamespaceRegistry
{
    private readonly ConcurrentDictionary<NamespaceId, KvNamespace> namespaces = new();
    private readonly Lock changeLock = new();
    private string? filePath;

    /// <summary>Registered namespaces.</summary>
    public IReadOnlyCollection<KvNamespace> All => [.. namespaces.Values];

    /// <summary>Where the namespaces are persisted; null while they live in memory only.</summary>
    public string? FilePath => filePath;

    /// <summary>Loads the namespaces persisted in <paramref name="directory"/> (adding them to any registered
    /// already) and persists every later change there.</summary>
    /// <exception cref="InvalidDataException">The file is corrupt; the message names it.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public int OpenFile(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var path = Path.Combine(directory, NamespaceFile.FileName);
        lock (changeLock)
        {
            var loaded = NamespaceFile.Read(path);
            foreach (var kvNamespace in loaded)
            {
                namespaces.TryAdd(kvNamespace.Id, kvNamespace);
            }

            NamespaceFile.Write(path, namespaces.Values);
            filePath = path;
            return loaded.Count;
        }
    }

    /// <summary>Registers a namespace (idempotent) and returns its id; persisted before it is served.</summary>
    /// <exception cref="IOException">The namespaces file could not be written; the namespace is not registered.</exception>
    public NamespaceId Register(KvNamespace kvNamespace)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        lock (changeLock)
        {
            if (namespaces.ContainsKey(kvNamespace.Id))
            {
                return kvNamespace.Id;
            }

            if (filePath is not null)
            {
                NamespaceFile.Write(filePath, [.. namespaces.Values, kvNamespace]);
            }

            namespaces[kvNamespace.Id] = kvNamespace;
        }

        return kvNamespace.Id;
    }

    /// <summary>Looks a namespace up by id.</summary>
    public bool TryGet(NamespaceId id, out KvNamespace? kvNamespace) => namespaces.TryGetValue(id, out kvNamespace);

    /// <summary>Whether the id is registered.</summary>
    public bool Contains(NamespaceId id) => namespaces.ContainsKey(id);

    /// <summary>Forgets a namespace; false when it was not registered.</summary>
    /// <exception cref="IOException">The namespaces file could not be written; the namespace stays registered.</exception>
    public bool Remove(NamespaceId id)
    {
        lock (changeLock)
        {
            if (!namespaces.ContainsKey(id))
            {
                return false;
            }

            if (filePath is not null)
            {
                NamespaceFile.Write(filePath, namespaces.Values.Where(n => n.Id != id));
            }

            return namespaces.TryRemove(id, out _);
        }
    }

    /// <summary>Builds a namespace from its control-plane form, validating every field.</summary>
    /// <exception cref="ArgumentException">A field is missing or invalid; the message names it.</exception>
    public static KvNamespace FromDescriptor(NamespaceDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var layout = descriptor.Layout ?? throw new ArgumentException("namespace.layout is missing.", nameof(descriptor));
        return new KvNamespace(
            descriptor.ModelId,
            descriptor.ModelRevision,
            new KvLayout(ToInt(layout.Layers, "layers"), ToInt(layout.KvHeads, "kv_heads"), ToInt(layout.HeadDim, "head_dim"),
                KvDataTypes.Parse(layout.DataType), ToInt(layout.TokensPerBlock, "tokens_per_block"),
                ToInt(layout.TensorParallelRank, "tensor_parallel_rank"), ToInt(layout.TensorParallelSize, "tensor_parallel_size")),
            descriptor.Tenant,
            string.IsNullOrEmpty(descriptor.HashAlgorithm) ? BlockHashAlgorithm.Xxh3 : BlockHashAlgorithms.Parse(descriptor.HashAlgorithm),
            string.IsNullOrEmpty(descriptor.Codec) ? "none" : descriptor.Codec,
            ToInt(descriptor.VocabularySize, "vocabulary_size"));
    }

    /// <summary>The control-plane form of a namespace.</summary>
    public static NamespaceDescriptor ToDescriptor(KvNamespace kvNamespace)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        var layout = kvNamespace.Layout;
        return new NamespaceDescriptor
        {
            ModelId = kvNamespace.ModelId,
            ModelRevision = kvNamespace.ModelRevision,
            Tenant = kvNamespace.Tenant,
            HashAlgorithm = kvNamespace.HashAlgorithm.Name(),
            Codec = kvNamespace.Codec,
            VocabularySize = (uint)kvNamespace.VocabularySize,
            Layout = new KvLayoutDescriptor
            {
                Layers = (uint)layout.Layers,
                KvHeads = (uint)layout.KvHeads,
                HeadDim = (uint)layout.HeadDim,
                DataType = layout.DataType.Name(),
                TokensPerBlock = (uint)layout.TokensPerBlock,
                TensorParallelRank = (uint)layout.TensorParallelRank,
                TensorParallelSize = (uint)layout.TensorParallelSize,
            },
        };
    }

    private static int ToInt(uint value, string field) => value <= int.MaxValue
        ? (int)value
        : throw new ArgumentOutOfRangeException(field, value, $"{field} {value} is too large.");
}
