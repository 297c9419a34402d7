using System.Buffers;
using System.Buffers.Binary;
using System.Formats.Cbor;
using System.IO.Hashing;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace KvTier.Core.Hashing;

/// <summary>
/// Turns token ids into the chain of block keys of a namespace: <c>h_i = H(h_{i-1}, tokens of block i, extra_i)</c>
/// over full blocks only, with <c>h_{-1}</c> derived from the namespace and the tenant's salt. Equal keys therefore
/// mean equal prefixes, and the same tokens under two salts share no key. Thread-safe.
/// </summary>
public sealed class BlockHasher
{
    /// <summary>Longest accepted tenant salt or vLLM hash seed, in characters.</summary>
    public const int MaxSaltLength = 1024;

    private const int StackScratchLimit = 4096;

    private readonly ChainStep step;
    private readonly byte[] rootDigest;
    private readonly byte[]? vllmCacheSaltCbor;
    private readonly uint tokenLimit;

    private BlockHasher(KvNamespace kvNamespace, ChainStep step, byte[] rootDigest, string? vllmCacheSalt)
    {
        Namespace = kvNamespace;
        this.step = step;
        this.rootDigest = rootDigest;
        vllmCacheSaltCbor = vllmCacheSalt is null ? null : ExtraKeyEncoding.EncodeTuple([HashExtraKey.Of(vllmCacheSalt)]);
        VllmCacheSalt = vllmCacheSalt;
        // Token ids are compared as unsigned, so negative ids fail the same test as ids past the vocabulary.
        tokenLimit = kvNamespace.VocabularySize == 0 ? 1u << 31 : (uint)kvNamespace.VocabularySize;
    }

    /// <summary>The namespace whose keys this hasher computes.</summary>
    public KvNamespace Namespace { get; }

    /// <summary>Tokens per block.</summary>
    public int TokensPerBlock => Namespace.Layout.TokensPerBlock;

    /// <summary>The chain root <c>h_{-1}</c>.</summary>
    public ReadOnlySpan<byte> RootDigest => rootDigest;

    private string? VllmCacheSalt { get; }

    /// <summary>
    /// Creates the hasher for a namespace and a tenant salt. The salt must come from whoever authenticated the
    /// tenant (the server side), never from the caller's request: a caller that can choose another tenant's salt can
    /// probe that tenant's prompts through hit timing.
    /// </summary>
    /// <param name="kvNamespace">The namespace; its algorithm picks XXH3-128 or sha256_cbor.</param>
    /// <param name="tenantSalt">Secret per-tenant salt mixed into the chain root ("" for none).</param>
    public static BlockHasher Create(KvNamespace kvNamespace, string tenantSalt = "")
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        RequireSalt(tenantSalt, nameof(tenantSalt));
        var step = StepFor(kvNamespace.HashAlgorithm);
        byte[] root;
        if (kvNamespace.HashAlgorithm == BlockHashAlgorithm.Xxh3)
        {
            var saltBytes = Encoding.UTF8.GetBytes(tenantSalt);
            var input = new byte[RootDomain.Length + 8 + saltBytes.Length];
            RootDomain.CopyTo(input);
            BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(RootDomain.Length), kvNamespace.Id.Value);
            saltBytes.CopyTo(input.AsSpan(RootDomain.Length + 8));
            root = new byte[16];
            BinaryPrimitives.WriteUInt128BigEndian(root, XxHash128.HashToUInt128(input));
        }
        else
        {
            var writer = new CborWriter(CborConformanceMode.Canonical);
            writer.WriteStartArray(3);
            writer.WriteTextString("kvtier.root.v1");
            writer.WriteUInt64(kvNamespace.Id.Value);
            writer.WriteTextString(tenantSalt);
            writer.WriteEndArray();
            root = SHA256.HashData(writer.Encode());
        }

        return new BlockHasher(kvNamespace, step, root, vllmCacheSalt: null);
    }

    /// <summary>
    /// Creates a sha256_cbor hasher whose keys equal vLLM's block hashes: the root is vLLM's <c>NONE_HASH</c> for
    /// <c>PYTHONHASHSEED=<paramref name="pythonHashSeed"/></c>, and a cache salt is added to the first block's extra
    /// keys as vLLM's <c>cache_salt</c> is (after any extra keys the caller gives for that block). Namespaces stay
    /// isolated because stores and the directory key every block by (namespace id, key).
    /// </summary>
    /// <exception cref="ArgumentException">The namespace does not use sha256_cbor.</exception>
    public static BlockHasher CreateVllmCompatible(KvNamespace kvNamespace, string pythonHashSeed, string? cacheSalt = null)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        RequireSalt(pythonHashSeed, nameof(pythonHashSeed));
        if (cacheSalt is not null)
        {
            RequireSalt(cacheSalt, nameof(cacheSalt));
        }

        if (kvNamespace.HashAlgorithm != BlockHashAlgorithm.Sha256Cbor)
        {
            throw new ArgumentException(
                $"vLLM-compatible keys need the sha256_cbor algorithm; namespace uses {kvNamespace.HashAlgorithm.Name()}.",
                nameof(kvNamespace));
        }

        var writer = new CborWriter(CborConformanceMode.Canonical);
        writer.WriteTextString(pythonHashSeed);
        var root = SHA256.HashData(writer.Encode());
        // vLLM only adds a salt when it is non-empty.
        return new BlockHasher(kvNamespace, Sha256CborChainStep.Instance, root, string.IsNullOrEmpty(cacheSalt) ? null : cacheSalt);
    }

    /// <summary>Number of full blocks in a prompt of <paramref name="tokenCount"/> tokens.</summary>
    public int FullBlockCount(int tokenCount) => tokenCount < 0
        ? throw new ArgumentOutOfRangeException(nameof(tokenCount), tokenCount, "Token count cannot be negative.")
        : tokenCount / TokensPerBlock;

    /// <summary>
    /// Keys of every full block of a prompt; a trailing partial block is not hashed (it is never cached).
    /// </summary>
    /// <param name="tokens">The prompt's token ids.</param>
    /// <param name="extraKeysPerBlock">Optional extra keys, indexed by block; a missing or null entry means none.</param>
    /// <exception cref="ArgumentException">The token list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or not below the vocabulary size.</exception>
    public BlockKey[] ComputeKeys(ReadOnlySpan<int> tokens, IReadOnlyList<IReadOnlyList<HashExtraKey>?>? extraKeysPerBlock = null)
    {
        var keys = new BlockKey[FullBlockCount(tokens.Length)];
        ComputeKeys(tokens, keys, extraKeysPerBlock);
        return keys;
    }

    /// <summary>Writes the keys of every full block of a prompt into <paramref name="destination"/> and returns how
    /// many were written. Allocation-free when no extra keys are given.</summary>
    /// <exception cref="ArgumentException">The token list is empty, or the destination is too small.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or not below the vocabulary size.</exception>
    public int ComputeKeys(ReadOnlySpan<int> tokens, Span<BlockKey> destination,
        IReadOnlyList<IReadOnlyList<HashExtraKey>?>? extraKeysPerBlock = null)
    {
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("The token list is empty: there is nothing to hash.", nameof(tokens));
        }

        var blocks = FullBlockCount(tokens.Length);
        if (destination.Length < blocks)
        {
            throw new ArgumentException(
                $"Destination holds {destination.Length} keys but the prompt has {blocks} full blocks.", nameof(destination));
        }

        ValidateTokens(tokens[..(blocks * TokensPerBlock)], firstPosition: 0);
        Span<byte> parent = stackalloc byte[step.DigestSize];
        rootDigest.CopyTo(parent);
        var scratchSize = step.ScratchSize(TokensPerBlock, extraKeyBytes: 0);
        byte[]? rented = null;
        var scratch = scratchSize <= StackScratchLimit
            ? stackalloc byte[StackScratchLimit]
            : (rented = ArrayPool<byte>.Shared.Rent(scratchSize));
        try
        {
            if (extraKeysPerBlock is null && VllmCacheSalt is null)
            {
                step.HashBlocks(parent, tokens, TokensPerBlock, destination[..blocks], scratch);
                return blocks;
            }

            for (var block = 0; block < blocks; block++)
            {
                var blockTokens = tokens.Slice(block * TokensPerBlock, TokensPerBlock);
                var extra = extraKeysPerBlock is not null && block < extraKeysPerBlock.Count ? extraKeysPerBlock[block] : null;
                HashBlock(parent, blockTokens, block, extra, scratch);
                destination[block] = BlockKey.FromBytes(parent);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        return blocks;
    }

    /// <summary>Starts a new chain at the root, for hashing block by block.</summary>
    public ChainCursor StartChain() => new(this, rootDigest);

    /// <summary>Hashes the next full block of a chain and returns its key.</summary>
    /// <exception cref="ArgumentException">The block is not exactly <see cref="TokensPerBlock"/> tokens, or the
    /// cursor belongs to another hasher.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A token id is negative or not below the vocabulary size.</exception>
    public BlockKey AppendBlock(ChainCursor cursor, ReadOnlySpan<int> blockTokens, IReadOnlyList<HashExtraKey>? extraKeys = null)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        if (!ReferenceEquals(cursor.Owner, this))
        {
            throw new ArgumentException("This cursor was started by another hasher.", nameof(cursor));
        }

        if (blockTokens.Length != TokensPerBlock)
        {
            throw new ArgumentException(
                $"A block holds exactly {TokensPerBlock} tokens, got {blockTokens.Length}: partial blocks are never hashed.",
                nameof(blockTokens));
        }

        ValidateTokens(blockTokens, firstPosition: cursor.BlockCount * TokensPerBlock);
        var scratch = new byte[step.ScratchSize(TokensPerBlock, 0)];
        HashBlock(cursor.MutableDigest, blockTokens, cursor.BlockCount, extraKeys, scratch);
        cursor.Advance();
        return BlockKey.FromBytes(cursor.CurrentDigest);
    }

    /// <summary>vLLM's integer form of a block hash in KV events (<c>VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES</c>):
    /// the digest's last 8 bytes read big-endian.</summary>
    public static ulong ToVllmEventHash(ReadOnlySpan<byte> digest) => digest.Length < 8
        ? throw new ArgumentException($"A digest has at least 8 bytes, got {digest.Length}.", nameof(digest))
        : BinaryPrimitives.ReadUInt64BigEndian(digest[^8..]);

    private static ReadOnlySpan<byte> RootDomain => "kvtier.root.v1"u8;

    /// <summary>Hashes one block in place: <paramref name="parentAndDigest"/> holds the parent on entry and the
    /// block's digest on return.</summary>
    private void HashBlock(Span<byte> parentAndDigest, ReadOnlySpan<int> blockTokens, int blockIndex,
        IReadOnlyList<HashExtraKey>? extraKeys, Span<byte> scratch)
    {
        var extraCbor = EncodeExtraKeys(blockIndex, extraKeys);
        var needed = step.ScratchSize(blockTokens.Length, extraCbor.Length);
        var buffer = needed <= scratch.Length ? scratch : new byte[needed];
        Span<byte> parent = stackalloc byte[step.DigestSize];
        parentAndDigest.CopyTo(parent);
        step.Hash(parent, blockTokens, extraCbor, buffer, parentAndDigest);
    }

    private ReadOnlySpan<byte> EncodeExtraKeys(int blockIndex, IReadOnlyList<HashExtraKey>? extraKeys)
    {
        var salt = blockIndex == 0 ? VllmCacheSalt : null;
        if (salt is null)
        {
            return extraKeys is null or { Count: 0 } ? ReadOnlySpan<byte>.Empty : ExtraKeyEncoding.EncodeTuple(extraKeys);
        }

        if (extraKeys is null or { Count: 0 })
        {
            return vllmCacheSaltCbor;
        }

        return ExtraKeyEncoding.EncodeTuple([.. extraKeys, HashExtraKey.Of(salt)]);
    }

    private void ValidateTokens(ReadOnlySpan<int> tokens, int firstPosition)
    {
        var asUnsigned = MemoryMarshal.Cast<int, uint>(tokens);
        var limit = new Vector<uint>(tokenLimit);
        var i = 0;
        for (; i <= asUnsigned.Length - Vector<uint>.Count; i += Vector<uint>.Count)
        {
            if (Vector.GreaterThanOrEqualAny(new Vector<uint>(asUnsigned[i..]), limit))
            {
                break;
            }
        }

        for (; i < asUnsigned.Length; i++)
        {
            if (asUnsigned[i] >= tokenLimit)
            {
                var bound = Namespace.VocabularySize == 0 ? "[0, 2^31)" : $"[0, {Namespace.VocabularySize})";
                throw new ArgumentOutOfRangeException(nameof(tokens), tokens[i],
                    $"Token id {tokens[i]} at position {firstPosition + i} is outside {bound} for model {Namespace.ModelId}.");
            }
        }
    }

    private static ChainStep StepFor(BlockHashAlgorithm algorithm) => algorithm switch
    {
        BlockHashAlgorithm.Xxh3 => Xxh3ChainStep.Instance,
        BlockHashAlgorithm.Sha256Cbor => Sha256CborChainStep.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "Unknown block hash algorithm."),
    };

    private static void RequireSalt(string salt, string name)
    {
        ArgumentNullException.ThrowIfNull(salt, name);
        if (salt.Length > MaxSaltLength)
        {
            throw new ArgumentException($"{name} is {salt.Length} characters; at most {MaxSaltLength} are accepted.", name);
        }
    }
}
