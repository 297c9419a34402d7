using KvTier.Core;
using KvTier.Transport.Messages;

namespace KvTier.Transport;

/// <summary>
/// One node's data plane as a client's load and store code uses it, whatever carries the bytes. The TCP channel
/// reads with one ReadBlocks round trip and stores with ReserveBlocks, then WriteExtents and CommitBlocks; an RDMA
/// channel implements the same two calls with LeaseBlocks, one-sided READs of the leased extents and ReleaseLeases
/// (and one-sided WRITEs into reserved extents before CommitBlocks), so the code above does not change. Channels
/// are thread-safe and may carry many calls at once.
/// </summary>
/// <remarks>
/// A channel never vouches for the bytes it delivers: the receiver verifies every chunk (end to end, against the
/// checksum the writer put in the chunk) before using it. Whole-request refusals (unknown namespace, draining,
/// a malformed request) are reported per block with the node's status, not thrown; an unreachable node or a broken
/// connection is an <see cref="IOException"/>, a malformed answer a <see cref="ProtocolViolationException"/>.
/// </remarks>
public interface INodeChannel : IAsyncDisposable
{
    /// <summary>The node, for messages.</summary>
    string Peer { get; }

    /// <summary>Fetches <see cref="BlockRead.LayerCount"/> layers of each block, handing the node's answer for every
    /// block and then each chunk to <paramref name="receiver"/> as it arrives (layer-major across the blocks).</summary>
    ValueTask ReadBlocksAsync(BlockRead request, IBlockReadReceiver receiver, CancellationToken cancellationToken);

    /// <summary>Stores encoded blocks with the node's two-phase put and writes each block's outcome to
    /// <paramref name="outcomes"/> (<see cref="FrameStatus.Ok"/>: committed; <see cref="FrameStatus.AlreadyPresent"/>:
    /// the node had it; anything else: not stored there).</summary>
    ValueTask StoreBlocksAsync(BlockWrite request, Memory<FrameStatus> outcomes, CancellationToken cancellationToken);
}

/// <summary>Takes a read's answers as they arrive; called on the channel's receive path, so it must be quick and
/// must not block.</summary>
/// <remarks>
/// A channel may offer to land a chunk's bytes in place, saving a copy: it asks <see cref="PlaceChunk"/> first and,
/// when given memory, receives the chunk's first <c>headLength</c> bytes itself and the rest straight into that memory,
/// then always calls <see cref="ChunkPlaced"/> (complete or not), and stops writing into the memory as soon as
/// <see cref="Abandoned"/> is cancelled, even if that costs the connection. A channel may also never place chunks and
/// hand every chunk to <see cref="ChunkReceived"/>.
/// </remarks>
public interface IBlockReadReceiver
{
    /// <summary>Cancelled when the reader stops taking bytes (its load ended or gave up).</summary>
    CancellationToken Abandoned { get; }

    /// <summary>The node's answer for block <paramref name="block"/> (an index into the request's keys), once per
    /// block and before any of its chunks. Only an <see cref="FrameStatus.Ok"/> block's chunks follow.</summary>
    void BlockAnswered(int block, FrameStatus status);

    /// <summary>One chunk as the node sent it: not verified yet, and valid only during the call.</summary>
    void ChunkReceived(int block, int layer, ReadOnlySpan<byte> chunk);

    /// <summary>Where the bytes of a <paramref name="length"/>-byte chunk after its first <paramref name="headLength"/>
    /// may be received in place, or empty memory to take the chunk through <see cref="ChunkReceived"/>.</summary>
    Memory<byte> PlaceChunk(int block, int layer, int length, out int headLength);

    /// <summary>Ends a placement: <paramref name="complete"/> when every byte arrived (<paramref name="head"/> holds the
    /// chunk's first bytes, valid only during the call; the rest is in the placed memory, not verified yet).</summary>
    void ChunkPlaced(int block, int layer, ReadOnlySpan<byte> head, bool complete);
}

/// <summary>A read of layers <see cref="FirstLayer"/>..+<see cref="LayerCount"/> of a batch of blocks.</summary>
/// <param name="Namespace">Namespace of every key.</param>
/// <param name="FirstLayer">First layer wanted.</param>
/// <param name="LayerCount">Layers wanted (at least one).</param>
/// <param name="Keys">The blocks.</param>
public readonly record struct BlockRead(NamespaceId Namespace, int FirstLayer, int LayerCount, ReadOnlyMemory<BlockKey> Keys);

/// <summary>A two-phase put of a batch of encoded blocks.</summary>
/// <param name="Namespace">Namespace of every block.</param>
/// <param name="ReservationTimeout">How long the node keeps the reservations before reclaiming them.</param>
/// <param name="Blocks">Each block's key, directory anchor and range of <paramref name="Chunks"/>.</param>
/// <param name="Chunks">Every chunk's length and XXH3-64, block after block.</param>
/// <param name="Payloads">The chunks' encoded bytes as segments, back to back in the order of <paramref name="Chunks"/>:
/// a chunk may span several consecutive segments (a header, then the caller's own bytes, so nothing is copied), a
/// segment never spans two chunks.</param>
public readonly record struct BlockWrite(NamespaceId Namespace, TimeSpan ReservationTimeout, ReadOnlyMemory<BlockToReserve> Blocks,
    ReadOnlyMemory<ChunkDeclaration> Chunks, ReadOnlyMemory<ReadOnlyMemory<byte>> Payloads);
