using System.Runtime.InteropServices;
using KvTier.Core;

namespace KvTier.Storage.Indexing;

/// <summary>Lifecycle of an index slot.</summary>
internal enum EntryState : byte
{
    Free = 0,
    Reserved = 1,
    Committed = 2,
    Deleting = 3,
}

/// <summary>
/// One block's index record, 56 bytes: identity, host extent, NVMe record, table checksum, leases and state. The
/// per-chunk lengths and checksums live in the table at the start of the extent, not here. Always accessed under
/// the lock of the shard its key hashes to.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct BlockEntry
{
    public const byte TransientFlag = 1;
    public const byte DemotingFlag = 2;
    public const int AccessShift = 4;

    public ulong KeyHigh;
    public ulong KeyLow;
    public ulong Namespace;

    /// <summary>Packed NVMe record location (see <see cref="Nvme.RecordLocation"/>); 0 when not on NVMe.</summary>
    public ulong NvmeLocation;

    /// <summary>Allocator handle of the host extent, or -1.</summary>
    public int HostHandle;

    /// <summary>Host extent offset in 256-byte units.</summary>
    public uint HostOffsetUnits;

    /// <summary>Bytes of table plus chunks.</summary>
    public uint ExtentLength;

    /// <summary>Low 32 bits of the table's XXH3-64, re-checked on every read.</summary>
    public uint TableChecksum;

    public ushort Leases;
    public EntryState State;

    /// <summary>Transient and demoting bits, and a saturating access count in the high bits.</summary>
    public byte Flags;

    public readonly BlockId Id => new(new NamespaceId(Namespace), new BlockKey(KeyHigh, KeyLow));

    public readonly bool Matches(in BlockId id) => KeyLow == id.Key.Low && KeyHigh == id.Key.High && Namespace == id.Namespace.Value;

    public readonly bool InHost => HostHandle >= 0;

    public readonly bool OnNvme => NvmeLocation != 0;

    public readonly long HostOffset => (long)HostOffsetUnits * Arena.OffsetAllocator.Granularity;

    public readonly int Accesses => Flags >> AccessShift;

    public void CountAccess()
    {
        if (Accesses < 15)
        {
            Flags += 1 << AccessShift;
        }
    }
}
