using KvTier.Transport;

namespace KvTier.Client;

/// <summary>A read receiver that may take chunks straight into registered device memory: an RDMA channel that sees a
/// <see cref="Direct"/> target reads each chunk's payload (not its codec header) into the place
/// <see cref="TryPlaceDirect"/> gives, and reports every chunk it was asked for through <see cref="ChunkDelivered"/>
/// instead of <c>ChunkReceived</c>.</summary>
internal interface IDirectReadReceiver : IBlockReadReceiver
{
    /// <summary>The registered memory to read into; null for an ordinary (host, verified) load.</summary>
    DirectLoadTarget? Direct { get; }

    /// <summary>Where the payload of a <paramref name="length"/>-byte chunk goes in the target's region; false when the
    /// chunk cannot be placed there (wrong length for the layout, or the load has ended), which fails the block.</summary>
    bool TryPlaceDirect(int block, int layer, int length, out ulong offset);

    /// <summary>Ends a chunk the channel was asked to place: read into the target, or not (with the reason).</summary>
    void ChunkDelivered(int block, int layer, bool delivered, string? failure);
}
