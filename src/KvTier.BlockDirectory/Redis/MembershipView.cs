using System.Buffers.Binary;

namespace KvTier.BlockDirectory.Redis;

/// <summary>A snapshot of the node registry: the live nodes, and the ids whose heartbeat lapsed. Immutable.</summary>
internal sealed class MembershipView
{
    public MembershipView(IReadOnlyList<NodeInfo> live, IReadOnlyList<NodeId> lapsed, long takenAtTimestamp)
    {
        Live = live;
        Lapsed = lapsed;
        TakenAtTimestamp = takenAtTimestamp;
        LiveBlob = new byte[live.Count * 16];
        for (var index = 0; index < live.Count; index++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(LiveBlob.AsSpan(index * 16), live[index].Id.Value);
            BinaryPrimitives.WriteUInt64BigEndian(LiveBlob.AsSpan((index * 16) + 8), live[index].Epoch);
        }

        LapsedBlob = new byte[lapsed.Count * 8];
        for (var index = 0; index < lapsed.Count; index++)
        {
            BinaryPrimitives.WriteUInt64BigEndian(LapsedBlob.AsSpan(index * 8), lapsed[index].Value);
        }
    }

    public IReadOnlyList<NodeInfo> Live { get; }

    public IReadOnlyList<NodeId> Lapsed { get; }

    /// <summary>(id, epoch) pairs as the scripts read them.</summary>
    public byte[] LiveBlob { get; }

    /// <summary>Lapsed ids as the scripts read them.</summary>
    public byte[] LapsedBlob { get; }

    /// <summary><see cref="System.Diagnostics.Stopwatch"/> timestamp of the read.</summary>
    public long TakenAtTimestamp { get; }
}
