using System.Formats.Cbor;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Core.Tests;

public class BlockHasherTests
{
    private static KvNamespace TinyNamespace(BlockHashAlgorithm algorithm = BlockHashAlgorithm.Xxh3, int tokensPerBlock = 16,
        string tenant = "tenant-a") =>
        new("kvtier/tiny-test-model", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, tokensPerBlock), tenant,
            algorithm, vocabularySize: ModelPresets.Tiny.VocabularySize);

    private static int[] Tokens(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(0, ModelPresets.Tiny.VocabularySize)).ToArray();
    }

    public static TheoryData<BlockHashAlgorithm> Algorithms => [BlockHashAlgorithm.Xxh3, BlockHashAlgorithm.Sha256Cbor];

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Only_full_blocks_are_hashed(BlockHashAlgorithm algorithm)
    {
        var hasher = BlockHasher.Create(TinyNamespace(algorithm));
        Assert.Equal(3, hasher.ComputeKeys(Tokens(16 * 3 + 15, 1)).Length);
        Assert.Empty(hasher.ComputeKeys(Tokens(15, 1)));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Shared_prefixes_share_keys_and_diverge_from_the_first_different_block(BlockHashAlgorithm algorithm)
    {
        var hasher = BlockHasher.Create(TinyNamespace(algorithm));
        var a = Tokens(16 * 6, 2);
        var b = (int[])a.Clone();
        b[16 * 3 + 5] = (b[16 * 3 + 5] + 1) % ModelPresets.Tiny.VocabularySize;

        var keysA = hasher.ComputeKeys(a);
        var keysB = hasher.ComputeKeys(b);

        Assert.Equal(keysA[..3], keysB[..3]);
        for (var i = 3; i < 6; i++)
        {
            Assert.NotEqual(keysA[i], keysB[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void A_block_key_depends_on_every_block_before_it(BlockHashAlgorithm algorithm)
    {
        var hasher = BlockHasher.Create(TinyNamespace(algorithm));
        var a = Tokens(32, 3);
        var swapped = a[16..].Concat(a[..16]).ToArray();
        // Same two blocks in the other order: no key in common.
        Assert.Empty(hasher.ComputeKeys(a).Intersect(hasher.ComputeKeys(swapped)));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void The_same_tokens_under_two_salts_share_no_key(BlockHashAlgorithm algorithm)
    {
        var tokens = Tokens(16 * 50, 4);
        var keysA = BlockHasher.Create(TinyNamespace(algorithm), "salt-of-tenant-a").ComputeKeys(tokens);
        var keysB = BlockHasher.Create(TinyNamespace(algorithm), "salt-of-tenant-b").ComputeKeys(tokens);
        var unsalted = BlockHasher.Create(TinyNamespace(algorithm)).ComputeKeys(tokens);

        Assert.Empty(keysA.Intersect(keysB));
        Assert.Empty(keysA.Intersect(unsalted));
    }

    [Fact]
    public void Two_namespaces_share_no_key_for_the_same_tokens()
    {
        var tokens = Tokens(16 * 20, 5);
        var a = BlockHasher.Create(TinyNamespace(tenant: "a")).ComputeKeys(tokens);
        var b = BlockHasher.Create(TinyNamespace(tenant: "b")).ComputeKeys(tokens);
        Assert.Empty(a.Intersect(b));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hashing_block_by_block_gives_the_same_keys_as_hashing_the_prompt(BlockHashAlgorithm algorithm)
    {
        var hasher = BlockHasher.Create(TinyNamespace(algorithm), "s");
        var tokens = Tokens(16 * 7, 6);
        var cursor = hasher.StartChain();
        var incremental = Enumerable.Range(0, 7).Select(i => hasher.AppendBlock(cursor, tokens.AsSpan(i * 16, 16))).ToArray();

        Assert.Equal(hasher.ComputeKeys(tokens), incremental);
        Assert.Equal(7, cursor.BlockCount);
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Extra_keys_change_the_block_key_and_everything_after_it(BlockHashAlgorithm algorithm)
    {
        var hasher = BlockHasher.Create(TinyNamespace(algorithm));
        var tokens = Tokens(16 * 3, 7);
        var plain = hasher.ComputeKeys(tokens);
        var withLora = hasher.ComputeKeys(tokens, [null, [HashExtraKey.Of("my-lora")]]);

        Assert.Equal(plain[0], withLora[0]);
        Assert.NotEqual(plain[1], withLora[1]);
        Assert.NotEqual(plain[2], withLora[2]);
    }

    [Fact]
    public void Keys_pinned_for_the_default_algorithm_do_not_drift()
    {
        // Keys are persisted by nodes and the directory: a silent change would turn every stored block into a miss.
        var keys = BlockHasher.Create(TinyNamespace(), "salt").ComputeKeys(Enumerable.Range(0, 32).ToArray());
        Assert.Equal(["40ec578aaa8cd251a88f5225b86e6aa1", "bf4da8bf4b1063564aab21d7ea5b0ba5"], keys.Select(k => k.ToString()));
    }

    [Fact]
    public void Sha256_cbor_chains_match_vectors_from_an_independent_implementation()
    {
        foreach (var vector in VllmVectors.Load())
        {
            var kvNamespace = new KvNamespace("any/model", "main",
                new KvLayout(1, 1, 1, KvDataType.BFloat16, vector.BlockSize), "t", BlockHashAlgorithm.Sha256Cbor);
            var hasher = BlockHasher.CreateVllmCompatible(kvNamespace, vector.Seed, vector.CacheSalt);
            Assert.Equal(vector.NoneHash, Convert.ToHexStringLower(hasher.RootDigest));

            var cursor = hasher.StartChain();
            var keys = new List<BlockKey>();
            for (var block = 0; block < vector.Digests.Count; block++)
            {
                var extra = block < vector.ExtraKeysPerBlock.Count ? vector.ExtraKeysPerBlock[block] : null;
                keys.Add(hasher.AppendBlock(cursor, vector.Tokens.AsSpan(block * vector.BlockSize, vector.BlockSize), extra));
                Assert.Equal(vector.Digests[block], Convert.ToHexStringLower(cursor.CurrentDigest));
                Assert.Equal(vector.EventHashes[block], BlockHasher.ToVllmEventHash(cursor.CurrentDigest));
            }

            // The bulk path agrees with the cursor path, and a key is the digest's first 16 bytes.
            Assert.Equal(keys, hasher.ComputeKeys(vector.Tokens, vector.ExtraKeysPerBlock));
            Assert.Equal(vector.Digests[^1][..32], keys[^1].ToString());
        }
    }

    [Fact]
    public void The_hand_written_token_encoder_matches_a_general_canonical_CBOR_writer()
    {
        uint[] samples = [0, 1, 23, 24, 255, 256, 65535, 65536, 151935, int.MaxValue];
        Span<byte> buffer = stackalloc byte[5];
        foreach (var value in samples)
        {
            var writer = new CborWriter(CborConformanceMode.Canonical);
            writer.WriteUInt32(value);
            var length = Sha256CborChainStep.WriteHead(buffer, majorType: 0, value);
            Assert.Equal(writer.Encode(), buffer[..length].ToArray());

            var count = (int)Math.Min(value, 70000);
            var arrayWriter = new CborWriter(CborConformanceMode.Canonical);
            arrayWriter.WriteStartArray(count);
            for (var i = 0; i < count; i++)
            {
                arrayWriter.WriteUInt32(0);
            }

            arrayWriter.WriteEndArray();
            length = Sha256CborChainStep.WriteHead(buffer, majorType: 4, (uint)count);
            Assert.Equal(arrayWriter.Encode()[..length], buffer[..length].ToArray());
        }
    }

    [Fact]
    public void Empty_token_lists_are_rejected()
    {
        var hasher = BlockHasher.Create(TinyNamespace());
        var error = Assert.Throws<ArgumentException>(() => hasher.ComputeKeys(ReadOnlySpan<int>.Empty));
        Assert.Contains("empty", error.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1000)]
    [InlineData(int.MinValue)]
    public void Token_ids_outside_the_vocabulary_are_rejected_with_value_and_position(int badToken)
    {
        var hasher = BlockHasher.Create(TinyNamespace());
        var tokens = Tokens(16 * 4, 8);
        tokens[37] = badToken;

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => hasher.ComputeKeys(tokens));
        Assert.Contains($"Token id {badToken} at position 37", error.Message);
        Assert.Contains("[0, 1000)", error.Message);
    }

    [Fact]
    public void Tokens_in_the_unhashed_partial_tail_are_not_validated()
    {
        var hasher = BlockHasher.Create(TinyNamespace());
        var tokens = Tokens(20, 9);
        tokens[18] = -5;
        Assert.Single(hasher.ComputeKeys(tokens));
    }

    [Fact]
    public void Appending_a_partial_block_or_a_foreign_cursor_is_rejected()
    {
        var hasher = BlockHasher.Create(TinyNamespace());
        var other = BlockHasher.Create(TinyNamespace());
        var error = Assert.Throws<ArgumentException>(() => hasher.AppendBlock(hasher.StartChain(), Tokens(15, 1)));
        Assert.Contains("exactly 16 tokens, got 15", error.Message);
        Assert.Throws<ArgumentException>(() => hasher.AppendBlock(other.StartChain(), Tokens(16, 1)));
    }

    [Fact]
    public void A_destination_smaller_than_the_block_count_is_rejected()
    {
        var hasher = BlockHasher.Create(TinyNamespace());
        var error = Assert.Throws<ArgumentException>(() => hasher.ComputeKeys(Tokens(64, 1), new BlockKey[3]));
        Assert.Contains("4 full blocks", error.Message);
    }

    [Fact]
    public void Vllm_compatible_keys_need_the_sha256_cbor_algorithm()
    {
        Assert.Throws<ArgumentException>(() => BlockHasher.CreateVllmCompatible(TinyNamespace(BlockHashAlgorithm.Xxh3), "0"));
    }

    [Fact]
    public void Large_blocks_hash_through_the_pooled_buffer_like_small_ones()
    {
        var kvNamespace = new KvNamespace("m", "main", new KvLayout(1, 1, 1, KvDataType.BFloat16, 4096), "t", BlockHashAlgorithm.Sha256Cbor);
        var hasher = BlockHasher.Create(kvNamespace);
        var tokens = Enumerable.Range(0, 4096 * 2).ToArray();
        var cursor = hasher.StartChain();
        BlockKey[] incremental = [hasher.AppendBlock(cursor, tokens.AsSpan(0, 4096)), hasher.AppendBlock(cursor, tokens.AsSpan(4096))];
        Assert.Equal(hasher.ComputeKeys(tokens), incremental);
    }

    [Fact]
    public void Concurrent_callers_get_the_same_keys_as_a_single_caller()
    {
        var hasher = BlockHasher.Create(TinyNamespace(BlockHashAlgorithm.Sha256Cbor));
        var prompts = Enumerable.Range(0, 64).Select(i => Tokens(16 * 10, i)).ToArray();
        var expected = prompts.Select(p => hasher.ComputeKeys(p)).ToArray();
        var actual = new BlockKey[prompts.Length][];
        Parallel.For(0, prompts.Length, i => actual[i] = hasher.ComputeKeys(prompts[i]));
        Assert.Equal(expected, actual);
    }
}

public class CborTokenEncodingTests
{
    [Fact]
    public void Encoded_token_runs_equal_a_general_canonical_CBOR_writer()
    {
        var random = new Random(5);
        var buffer = new byte[5 * 64];
        for (var round = 0; round < 200; round++)
        {
            var tokens = Enumerable.Range(0, random.Next(1, 64))
                .Select(_ => random.Next(4) switch { 0 => random.Next(24), 1 => random.Next(256), 2 => random.Next(65536), _ => random.Next() })
                .ToArray();
            var writer = new System.Formats.Cbor.CborWriter(System.Formats.Cbor.CborConformanceMode.Canonical, allowMultipleRootLevelValues: true);
            foreach (var token in tokens)
            {
                writer.WriteInt32(token);
            }

            var length = Sha256CborChainStep.EncodeTokens(tokens, buffer);
            Assert.Equal(writer.Encode(), buffer[..length]);
        }
    }
}
