using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace KvTier.Core.Hashing;

/// <summary>XXH3-128 over parent key (16 bytes) ‖ token ids as little-endian int32 ‖ extra keys' CBOR.
/// The block length is fixed per namespace, so the extra keys need no separator.</summary>
internal sealed class Xxh3ChainStep : ChainStep
{
    public static Xxh3ChainStep Instance { get; } = new();

    public override int DigestSize => 16;

    public override int ScratchSize(int tokenCount, int extraKeyBytes) => DigestSize + (4 * tokenCount) + extraKeyBytes;

    public override void Hash(ReadOnlySpan<byte> parent, ReadOnlySpan<int> tokens, ReadOnlySpan<byte> extraKeysCbor,
        Span<byte> scratch, Span<byte> digest)
    {
        parent.CopyTo(scratch);
        var tokenBytes = scratch.Slice(DigestSize, 4 * tokens.Length);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(tokens).CopyTo(tokenBytes);
        }
        else
        {
            BinaryPrimitives.ReverseEndianness(tokens, MemoryMarshal.Cast<byte, int>(tokenBytes));
        }

        extraKeysCbor.CopyTo(scratch[(DigestSize + tokenBytes.Length)..]);
        var length = DigestSize + tokenBytes.Length + extraKeysCbor.Length;
        var hash = XxHash128.HashToUInt128(scratch[..length]);
        BinaryPrimitives.WriteUInt128BigEndian(digest, hash);
    }

    public override void HashBlocks(Span<byte> parent, ReadOnlySpan<int> tokens, int tokensPerBlock,
        Span<BlockKey> destination, Span<byte> scratch)
    {
        // The scratch holds [parent | tokens]; each digest is written over the parent slot for the next block.
        var input = scratch[..(DigestSize + (4 * tokensPerBlock))];
        var tokenBytes = MemoryMarshal.Cast<byte, int>(input[DigestSize..]);
        parent.CopyTo(input);
        for (var block = 0; block < destination.Length; block++)
        {
            var blockTokens = tokens.Slice(block * tokensPerBlock, tokensPerBlock);
            if (BitConverter.IsLittleEndian)
            {
                blockTokens.CopyTo(tokenBytes);
            }
            else
            {
                BinaryPrimitives.ReverseEndianness(blockTokens, tokenBytes);
            }

            var hash = XxHash128.HashToUInt128(input);
            BinaryPrimitives.WriteUInt128BigEndian(input, hash);
            destination[block] = new BlockKey((ulong)(hash >> 64), (ulong)hash);
        }

        input[..DigestSize].CopyTo(parent);
    }
}
