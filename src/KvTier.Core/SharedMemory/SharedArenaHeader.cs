using System.Buffers.Binary;

namespace KvTier.Core.SharedMemory;

/// <summary>
/// The first page of a node's shared arena file, ahead of the arena itself: a magic, a format version, the node
/// instance that created it and the arena's length. A client that maps the file compares the instance with the one the
/// node named over its authenticated data-plane connection, so it never reads a stale file of an earlier run, or an
/// unrelated file that happens to have the same path on another host or in another container.
/// </summary>
public static class SharedArenaHeader
{
    /// <summary>Bytes of the header.</summary>
    public const int Size = 4096;

    /// <summary>Where the arena starts in the file: 2 MiB in, so a file on hugetlbfs maps the arena with huge pages (its
    /// mappings must start at a huge-page offset).</summary>
    public const long ArenaOffset = 2L << 20;

    /// <summary>The format this code writes and reads.</summary>
    public const uint FormatVersion = 1;

    private static ReadOnlySpan<byte> Magic => "KVTARENA"u8;

    /// <summary>Fills <paramref name="page"/> (at least <see cref="Size"/> bytes) with the header.</summary>
    public static void Write(Span<byte> page, Guid instance, long arenaLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(page.Length, Size, nameof(page));
        page[..Size].Clear();
        Magic.CopyTo(page);
        BinaryPrimitives.WriteUInt32LittleEndian(page[8..], FormatVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(page[12..], Size);
        instance.TryWriteBytes(page[16..32]);
        BinaryPrimitives.WriteInt64LittleEndian(page[32..], arenaLength);
    }

    /// <summary>Checks a header against what the node said; null when it matches, otherwise why it does not.</summary>
    public static string? Check(ReadOnlySpan<byte> page, Guid instance, long arenaLength)
    {
        if (page.Length < Size || !page[..8].SequenceEqual(Magic))
        {
            return "the file is not a KvTier shared arena (no KVTARENA magic)";
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(page[8..]);
        if (version != FormatVersion || BinaryPrimitives.ReadUInt32LittleEndian(page[12..]) != Size)
        {
            return $"the shared arena file has format {version}; this client reads format {FormatVersion}";
        }

        var written = new Guid(page[16..32]);
        if (written != instance)
        {
            return $"the file belongs to node instance {written}, not {instance} (a stale file, or another host's file at the same path)";
        }

        var length = BinaryPrimitives.ReadInt64LittleEndian(page[32..]);
        return length == arenaLength ? null : $"the file's arena is {length} bytes; the node announced {arenaLength}";
    }
}
