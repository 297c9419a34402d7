namespace KvTier.Storage.Nvme;

/// <summary>A record's place packed in 64 bits: segment id + 1 (24 bits) and offset in 4 KiB pages (40 bits); 0 = none.</summary>
internal static class RecordLocation
{
    private const int OffsetBits = 40;

    public static ulong Pack(int segment, long offset) => ((ulong)(segment + 1) << OffsetBits) | ((ulong)offset / AlignedBuffer.Alignment);

    public static int Segment(ulong location) => (int)(location >> OffsetBits) - 1;

    public static long Offset(ulong location) => (long)(location & ((1UL << OffsetBits) - 1)) * AlignedBuffer.Alignment;
}
