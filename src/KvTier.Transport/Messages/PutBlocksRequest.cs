using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>
/// Store a batch of new blocks in one frame (protocol version 3): <c>namespace u64 | block count u32 | declaration
/// bytes u32 | declarations (<see cref="BlockDeclarations"/>) | payload</c>, where the payload is every chunk's bytes,
/// block after block in declaration order, and must be exactly as long as the declared chunks add up to. The fixed
/// prefix says how long the declarations are, so a node reads them first and then receives each block's bytes
/// straight into its reservation. Answered with a <see cref="StatusBatch"/>, one status per block:
/// <see cref="FrameStatus.Ok"/> (committed), <see cref="FrameStatus.AlreadyPresent"/> (held already; its bytes were
/// discarded), <see cref="FrameStatus.Busy"/>, <see cref="FrameStatus.NoSpace"/>, <see cref="FrameStatus.Corrupt"/>
/// (a chunk did not match its declared checksum; nothing committed) or <see cref="FrameStatus.BadRequest"/>.
/// </summary>
public static class PutBlocksRequest
{
    /// <summary>Bytes of the fixed prefix (namespace, block count, declaration bytes).</summary>
    public const int PrefixSize = 16;

    /// <summary>Exact size of the prefix and declarations (the payload follows).</summary>
    public static int MeasureHead(int blockCount, int chunkCount) => PrefixSize + BlockDeclarations.Measure(blockCount, chunkCount);

    /// <summary>Writes the prefix and the declarations; returns the bytes written.</summary>
    public static int WriteHead(Span<byte> head, NamespaceId kvNamespace, ReadOnlySpan<BlockToReserve> blocks, ReadOnlySpan<ChunkDeclaration> chunks)
    {
        var chunkCount = 0;
        foreach (var block in blocks)
        {
            chunkCount += block.ChunkCount;
        }

        var writer = new BodyWriter(head);
        writer.WriteUInt64(kvNamespace.Value);
        writer.WriteInt32(blocks.Length);
        writer.WriteInt32(BlockDeclarations.Measure(blocks.Length, chunkCount));
        BlockDeclarations.Write(ref writer, blocks, chunks);
        return writer.Written;
    }

    /// <summary>Parses the fixed prefix of a <paramref name="bodyLength"/>-byte body and checks its counts against the
    /// limits before anything is sized with them.</summary>
    /// <exception cref="ProtocolViolationException">The prefix is truncated, or a count breaks a limit or the body.</exception>
    public static void ReadPrefix(ReadOnlySpan<byte> prefix, FrameLimits limits, int bodyLength, out NamespaceId kvNamespace,
        out int blockCount, out int declarationBytes)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var reader = new BodyReader(prefix);
        kvNamespace = new NamespaceId(reader.ReadUInt64("namespace"));
        blockCount = reader.ReadCount("block count", limits.MaxBlocksPerRequest);
        declarationBytes = reader.ReadInt32("declaration bytes");
        var least = BlockDeclarations.Measure(blockCount, blockCount);
        var most = (long)blockCount * (BlockDeclarations.BlockHeadSize + ((long)limits.MaxChunksPerBlock * BlockDeclarations.ChunkSize));
        if (declarationBytes < least || declarationBytes > most)
        {
            throw new ProtocolViolationException(
                $"PutBlocks declares {declarationBytes} declaration bytes for {blockCount} blocks (between {least} and {most} allowed).");
        }

        if (PrefixSize + (long)declarationBytes > bodyLength)
        {
            throw new ProtocolViolationException(
                $"PutBlocks declarations of {declarationBytes} bytes do not fit the {bodyLength}-byte body.");
        }
    }

    /// <summary>Parses the declarations into caller-provided arrays; returns the payload length they declare.</summary>
    /// <exception cref="ProtocolViolationException">A declaration is malformed, breaks a limit, or bytes are left over.</exception>
    public static long ReadDeclarations(ReadOnlySpan<byte> declarations, FrameLimits limits, int blockCount, Span<BlockToReserve> blocks,
        Span<ChunkDeclaration> chunks, out int chunkCount)
    {
        var reader = new BodyReader(declarations);
        BlockDeclarations.Read(ref reader, limits, blockCount, blocks, chunks, out chunkCount, out var payloadBytes);
        reader.EnsureFullyRead("PutBlocks declarations");
        return payloadBytes;
    }
}
