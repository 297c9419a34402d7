using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace KvTier.Core.Hashing;

/// <summary>
/// vLLM's <c>sha256_cbor</c> block hash: SHA-256 of <c>cbor2.dumps((parent, tuple(tokens), extra_keys), canonical=True)</c>.
/// The token array is encoded by hand (canonical CBOR of non-negative integers is a fixed, simple form) because a
/// general CBOR writer costs more per token than the SHA-256 itself; a test checks it against System.Formats.Cbor.
/// </summary>
internal sealed class Sha256CborChainStep : ChainStep
{
    private const byte ArrayOfThree = 0x83;
    private const byte ByteStringWithOneByteLength = 0x58;
    private const byte CborNull = 0xF6;

    public static Sha256CborChainStep Instance { get; } = new();

    public override int DigestSize => 32;

    // 1 (array) + 2 (byte-string head) + 32 (parent) + 5 (token array head) + 5 per token + extras (or 1 for null).
    public override int ScratchSize(int tokenCount, int extraKeyBytes) => 40 + (5 * tokenCount) + Math.Max(1, extraKeyBytes);

    /// <summary>Payload bytes of a canonical CBOR unsigned integer by bit length (values below 24 have none).</summary>
    private static ReadOnlySpan<byte> PayloadBytesByBitLength =>
        [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];

    /// <summary>
    /// Writes each token as a canonical CBOR unsigned integer and returns the bytes written. Branch-light: token
    /// widths in real prompts are random, so per-width branches mispredict. Every token writes 5 bytes and advances
    /// by its true width, so <paramref name="destination"/> needs 5 bytes per token.
    /// </summary>
    internal static unsafe int EncodeTokens(ReadOnlySpan<int> tokens, Span<byte> destination)
    {
        if (destination.Length < 5 * tokens.Length)
        {
            throw new ArgumentException($"Need {5 * tokens.Length} bytes to encode {tokens.Length} tokens.", nameof(destination));
        }

        fixed (int* first = tokens)
        fixed (byte* start = destination)
        fixed (byte* widths = PayloadBytesByBitLength)
        {
            var output = start;
            for (var i = 0; i < tokens.Length; i++)
            {
                var value = (uint)first[i];
                int payload = widths[32 - BitOperations.LeadingZeroCount(value)];
                var isSmall = value < 24;
                payload = isSmall ? 0 : payload;
                // Additional-information codes: 24 = 1-byte, 25 = 2-byte, 26 = 4-byte argument.
                var head = isSmall ? value : (uint)(23 + BitOperations.Log2((uint)payload) + 1);
                *output = (byte)head;
                Unsafe.WriteUnaligned(output + 1, BinaryPrimitives.ReverseEndianness(value << ((32 - (8 * payload)) & 31)));
                output += 1 + payload;
            }

            return (int)(output - start);
        }
    }

    public override void Hash(ReadOnlySpan<byte> parent, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> extraKeysCbor,
        Span<byte> scratch, Span<byte> digest)
    {
        scratch[0] = ArrayOfThree;
        scratch[1] = ByteStringWithOneByteLength;
        scratch[2] = (byte)DigestSize;
        parent.CopyTo(scratch[3..]);
        var length = 3 + DigestSize;
        length += WriteHead(scratch[length..], majorType: 4, (uint)tokens.Length);
        length += EncodeTokens(tokens, scratch[length..]);

        if (extraKeysCbor.IsEmpty)
        {
            scratch[length++] = CborNull;
        }
        else
        {
            extraKeysCbor.CopyTo(scratch[length..]);
            length += extraKeysCbor.Length;
        }

        Sha256Digest.Hash(scratch[..length], digest);
    }

    public override void HashBlocks(Span<byte> parent, ReadOnlySpan<int> tokens, int tokensPerBlock,
        Span<BlockKey> destination, Span<byte> scratch)
    {
        // Constant head: array(3), byte string(32) holding the parent, then the token array head.
        scratch[0] = ArrayOfThree;
        scratch[1] = ByteStringWithOneByteLength;
        scratch[2] = (byte)DigestSize;
        var parentSlot = scratch.Slice(3, DigestSize);
        parent.CopyTo(parentSlot);
        var tokensStart = 3 + DigestSize;
        tokensStart += WriteHead(scratch[tokensStart..], majorType: 4, (uint)tokensPerBlock);
        for (var block = 0; block < destination.Length; block++)
        {
            var length = tokensStart + EncodeTokens(tokens.Slice(block * tokensPerBlock, tokensPerBlock), scratch[tokensStart..]);

            scratch[length++] = CborNull;
            Sha256Digest.Hash(scratch[..length], parent);
            parent.CopyTo(parentSlot);
            destination[block] = BlockKey.FromBytes(parent);
        }
    }

    /// <summary>Writes a canonical (shortest) CBOR head for an unsigned argument and returns its length.</summary>
    internal static int WriteHead(Span<byte> destination, int majorType, uint value)
    {
        var major = (byte)(majorType << 5);
        if (value < 24)
        {
            destination[0] = (byte)(major | value);
            return 1;
        }

        if (value <= byte.MaxValue)
        {
            destination[0] = (byte)(major | 24);
            destination[1] = (byte)value;
            return 2;
        }

        if (value <= ushort.MaxValue)
        {
            destination[0] = (byte)(major | 25);
            BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)value);
            return 3;
        }

        destination[0] = (byte)(major | 26);
        BinaryPrimitives.WriteUInt32BigEndian(destination[1..], value);
        return 5;
    }
}
