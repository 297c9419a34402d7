using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>One block to reserve: its key, its directory anchor and its chunks' lengths and checksums.</summary>
/// <param name="Key">Block key.</param>
/// <param name="Anchor">The key at the start of the block's span of its chain (the directory addresses entries by
/// key and anchor), so the node can publish and unpublish the block itself.</param>
/// <param name="FirstChunk">Index of its first chunk in the chunks array.</param>
/// <param name="ChunkCount">Number of chunks (layers).</param>
public readonly record struct BlockToReserve(BlockKey Key, BlockKey Anchor, int FirstChunk, int ChunkCount);

/// <summary>A chunk's size and XXH3-64 checksum, declared before its bytes are sent.</summary>
/// <param name="Length">Bytes.</param>
/// <param name="Checksum">XXH3-64 of the bytes; the node verifies it at commit.</param>
public readonly record struct ChunkDeclaration(int Length, ulong Checksum);

/// <summary>Reserve space for a batch of new blocks: <c>namespace u64 | timeout ms u32 | block count u32 |
/// per block: key, anchor key, chunk count u16, per chunk: length u32, checksum u64</c>. Answered with
/// <see cref="BlockExtentsResponse"/> (the handle is the reservation id; the extents are where to write).</summary>
public static class ReserveBlocksRequest
{
    /// <summary>Exact body size.</summary>
    public static int MeasureBody(int blockCount, int chunkCount) => 16 + BlockDeclarations.Measure(blockCount, chunkCount);

    /// <summary>Writes a request body.</summary>
    public static int Write(Span<byte> body, NamespaceId kvNamespace, int timeoutMilliseconds,
        ReadOnlySpan<BlockToReserve> blocks, ReadOnlySpan<ChunkDeclaration> chunks)
    {
        var writer = new BodyWriter(body);
        writer.WriteUInt64(kvNamespace.Value);
        writer.WriteInt32(timeoutMilliseconds);
        writer.WriteInt32(blocks.Length);
        BlockDeclarations.Write(ref writer, blocks, chunks);
        return writer.Written;
    }

    /// <summary>Parses a request into caller-provided arrays and returns the block count.</summary>
    /// <exception cref="ProtocolViolationException">The body is malformed or breaks a limit.</exception>
    public static int Read(ReadOnlySpan<byte> body, FrameLimits limits, out NamespaceId kvNamespace, out int timeoutMilliseconds,
        Span<BlockToReserve> blocks, Span<ChunkDeclaration> chunks, out int chunkCount)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(body);
        kvNamespace = new NamespaceId(reader.ReadUInt64("namespace"));
        timeoutMilliseconds = reader.ReadInt32("timeout milliseconds");
        if (timeoutMilliseconds <= 0)
        {
            throw new ProtocolViolationException($"timeout milliseconds must be positive, got {timeoutMilliseconds}.");
        }

        var count = reader.ReadCount("block count", Math.Min(limits.MaxBlocksPerRequest, blocks.Length));
        BlockDeclarations.Read(ref reader, limits, count, blocks, chunks, out chunkCount, out _);
        reader.EnsureFullyRead("ReserveBlocks");
        return count;
    }
}

/// <summary>The block declarations shared by ReserveBlocks and PutBlocks: <c>per block: key, anchor key, chunk count
/// u16, per chunk: length u32, checksum u64</c>.</summary>
public static class BlockDeclarations
{
    /// <summary>Bytes of one block's declaration without its chunks.</summary>
    public const int BlockHeadSize = (2 * BlockKey.Size) + 2;

    /// <summary>Bytes of one chunk's declaration.</summary>
    public const int ChunkSize = 12;

    /// <summary>Exact size of <paramref name="blockCount"/> declarations holding <paramref name="chunkCount"/> chunks.</summary>
    public static int Measure(int blockCount, int chunkCount) => (blockCount * BlockHeadSize) + (chunkCount * ChunkSize);

    /// <summary>Writes each block's declaration with its chunks.</summary>
    public static void Write(ref BodyWriter writer, ReadOnlySpan<BlockToReserve> blocks, ReadOnlySpan<ChunkDeclaration> chunks)
    {
        foreach (var block in blocks)
        {
            writer.WriteBlockKey(block.Key);
            writer.WriteBlockKey(block.Anchor);
            writer.WriteUInt16(checked((ushort)block.ChunkCount));
            foreach (var chunk in chunks.Slice(block.FirstChunk, block.ChunkCount))
            {
                writer.WriteInt32(chunk.Length);
                writer.WriteUInt64(chunk.Checksum);
            }
        }
    }

    /// <summary>Reads <paramref name="count"/> declarations into caller-provided arrays; returns the chunks' total
    /// length in <paramref name="chunkBytes"/>.</summary>
    /// <exception cref="ProtocolViolationException">A declaration is truncated or breaks a limit.</exception>
    public static void Read(ref BodyReader reader, FrameLimits limits, int count, Span<BlockToReserve> blocks, Span<ChunkDeclaration> chunks,
        out int chunkCount, out long chunkBytes)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (count > blocks.Length)
        {
            throw new ProtocolViolationException($"{count} blocks declared, room for {blocks.Length}.");
        }

        chunkCount = 0;
        chunkBytes = 0;
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadBlockKey("block key");
            var anchor = reader.ReadBlockKey("anchor key");
            var chunksOfBlock = reader.ReadUInt16("chunk count");
            if (chunksOfBlock == 0 || chunksOfBlock > limits.MaxChunksPerBlock || chunkCount + chunksOfBlock > chunks.Length)
            {
                throw new ProtocolViolationException($"Block {i} declares {chunksOfBlock} chunks (1 to {limits.MaxChunksPerBlock} allowed).");
            }

            blocks[i] = new BlockToReserve(key, anchor, chunkCount, chunksOfBlock);
            for (var c = 0; c < chunksOfBlock; c++)
            {
                var length = reader.ReadInt32("chunk length");
                if (length <= 0 || length > limits.MaxChunkBytes)
                {
                    throw new ProtocolViolationException($"Chunk length {length} is outside [1, {limits.MaxChunkBytes}].");
                }

                chunkBytes += length;
                chunks[chunkCount++] = new ChunkDeclaration(length, reader.ReadUInt64("chunk checksum"));
            }
        }
    }
}
