namespace KvTier.Storage.Arena;

/// <summary>How the host arena got its pages; reported so operators know what the machine gave them.</summary>
public enum HugePageMode
{
    /// <summary>Reserved hugetlb pages (MAP_HUGETLB).</summary>
    HugeTlb,

    /// <summary>Transparent huge pages requested with madvise(MADV_HUGEPAGE).</summary>
    TransparentHugePages,

    /// <summary>Ordinary 4 KiB pages: neither hugetlb nor THP was available.</summary>
    None,
}
