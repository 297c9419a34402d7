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

    /// <summary>How many reads the channel can carry side by side right now (its idle connections, at least one): a
    /// load splits a node's blocks into that many reads so the node serves them on several cores, and does not split
    /// when the connections are busy anyway (each extra read costs a request and an answer).</summary>
    int ReadParallelism { get; }

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
/// Every chunk reaches the receiver whole (<see cref="ChunkReceived(int, int, ReadOnlySpan{byte})"/>) or split after its
/// first <see cref="ChunkHeadLength"/> bytes (the chunk format's header): through
/// <see cref="ChunkReceived(int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>, or in place. A channel whose node
/// sends the chunk heads ahead of the payloads may offer to land a payload in place, saving a copy: it asks
/// <see cref="PlacePayload"/> and, when given memory, receives the payload straight into it, then always calls
/// <see cref="PayloadPlaced"/> (complete or not), and stops writing into the memory as soon as <see cref="Abandoned"/>
/// is cancelled, even if that costs the connection.
/// </remarks>
public interface IBlockReadReceiver
{
    /// <summary>Cancelled when the reader stops taking bytes (its load ended or gave up).</summary>
    CancellationToken Abandoned { get; }

    /// <summary>How many leading bytes of each chunk the receiver wants apart from the rest (its chunk header), so a
    /// channel can ask the node to send them ahead of the payloads.</summary>
    int ChunkHeadLength { get; }

    /// <summary>The node's answer for block <paramref name="block"/> (an index into the request's keys), once per
    /// block and before any of its chunks. Only an <see cref="FrameStatus.Ok"/> block's chunks follow.</summary>
    void BlockAnswered(int block, FrameStatus status);

    /// <summary>One chunk as the node sent it: not verified yet, and valid only during the call.</summary>
    void ChunkReceived(int block, int layer, ReadOnlySpan<byte> chunk);

    /// <summary>One chunk in two pieces: its first bytes (<see cref="ChunkHeadLength"/>, fewer only if the chunk is
    /// shorter) and the rest. Not verified yet, and valid only during the call.</summary>
    void ChunkReceived(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload);

    /// <summary>Where the <paramref name="payloadLength"/> bytes that follow a chunk's <paramref name="head"/> may be
    /// received in place: at <paramref name="offset"/> in the returned memory, or empty memory to take the chunk through
    /// <see cref="ChunkReceived(int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>. A channel may receive the payloads
    /// of chunks placed back to back in the same memory with one read.</summary>
    Memory<byte> PlacePayload(int block, int layer, ReadOnlySpan<byte> head, int payloadLength, out int offset);

    /// <summary>Ends a placement: <paramref name="complete"/> when every payload byte arrived (not verified yet);
    /// <paramref name="head"/> is the chunk's head again, valid only during the call.</summary>
    void PayloadPlaced(int block, int layer, ReadOnlySpan<byte> head, bool complete);

    /// <summary>For a channel whose payloads lie in memory it can read (a shared arena): copies the payload into its
    /// place and verifies it in the same pass. False, with nothing done, when the receiver takes this chunk through
    /// <see cref="ChunkReceived(int, int, ReadOnlySpan{byte}, ReadOnlySpan{byte})"/> instead.</summary>
    bool TryCopyPayload(int block, int layer, ReadOnlySpan<byte> head, ReadOnlySpan<byte> payload) => false;
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
