using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.IO.Hashing;
using KvTier.Core;
using KvTier.Storage;

namespace KvTier.Node.Hosting;

/// <summary>
/// The directory anchor of every block the node holds. The directory addresses a block by (key, anchor) and the
/// storage engine knows only the key, so whoever learns a block's chain position (the data-plane write path) records
/// the anchor here before committing. With an NVMe tier the book is also kept in <c>anchors.kvt</c> beside the
/// segments, so a restarted node can re-publish what it recovered under the right anchors.
/// </summary>
/// <remarks>File format: 48-byte records <c>[namespace:8][key:16][anchor:16][xxh3 of the first 40 bytes:8]</c>,
/// little-endian, appended. A torn or corrupt record ends the readable part; at start the file is rewritten with
/// the records of recovered blocks only.</remarks>
public sealed class BlockAnchorBook : IDisposable
{
    /// <summary>The file name inside the NVMe directory.</summary>
    public const string FileName = "anchors.kvt";

    private const int RecordSize = 48;
    private readonly ConcurrentDictionary<BlockId, BlockKey> anchors = new();
    private readonly Lock fileLock = new();
    private FileStream? file;

    /// <summary>Anchors known now.</summary>
    public int Count => anchors.Count;

    /// <summary>Remembers the anchor of a block about to be committed (idempotent; the latest call wins).</summary>
    public void Record(in BlockId id, BlockKey anchor) => anchors[id] = anchor;

    /// <summary>The anchor of a block, when known.</summary>
    public bool TryGet(in BlockId id, out BlockKey anchor) => anchors.TryGetValue(id, out anchor);

    /// <summary>Forgets a block that left the node.</summary>
    public void Forget(in BlockId id) => anchors.TryRemove(id, out _);

    /// <summary>Loads the persisted anchors of <paramref name="held"/> blocks from <paramref name="directory"/> and
    /// rewrites the file with only those; later <see cref="Persist"/> calls append to it.</summary>
    public void OpenFile(string directory, IEnumerable<BlockId> held)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(held);
        var path = Path.Combine(directory, FileName);
        var stored = new Dictionary<BlockId, BlockKey>();
        if (File.Exists(path))
        {
            var bytes = File.ReadAllBytes(path);
            for (var offset = 0; offset + RecordSize <= bytes.Length; offset += RecordSize)
            {
                var record = bytes.AsSpan(offset, RecordSize);
                if (XxHash3.HashToUInt64(record[..40]) != BinaryPrimitives.ReadUInt64LittleEndian(record[40..]))
                {
                    break;
                }

                var id = new BlockId(new NamespaceId(BinaryPrimitives.ReadUInt64LittleEndian(record)), BlockKey.FromBytes(record.Slice(8, 16)));
                stored[id] = BlockKey.FromBytes(record.Slice(24, 16));
            }
        }

        var temporary = path + ".tmp";
        using (var rewrite = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            Span<byte> record = stackalloc byte[RecordSize];
            foreach (var id in held)
            {
                if (stored.TryGetValue(id, out var anchor))
                {
                    anchors.TryAdd(id, anchor);
                    Encode(id, anchor, record);
                    rewrite.Write(record);
                }
            }

            rewrite.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        lock (fileLock)
        {
            file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        }
    }

    /// <summary>Appends the anchors of newly committed blocks to the file (no-op without an NVMe tier). Called from
    /// the publisher's loop, never from engine threads.</summary>
    public void Persist(IReadOnlyList<(BlockId Id, BlockKey Anchor)> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        lock (fileLock)
        {
            if (file is null || records.Count == 0)
            {
                return;
            }

            var buffer = new byte[records.Count * RecordSize];
            for (var i = 0; i < records.Count; i++)
            {
                Encode(records[i].Id, records[i].Anchor, buffer.AsSpan(i * RecordSize, RecordSize));
            }

            file.Write(buffer);
            file.Flush();
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (fileLock)
        {
            file?.Dispose();
            file = null;
        }
    }

    private static void Encode(in BlockId id, BlockKey anchor, Span<byte> record)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(record, id.Namespace.Value);
        id.Key.WriteTo(record.Slice(8, 16));
        anchor.WriteTo(record.Slice(24, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(record[40..], XxHash3.HashToUInt64(record[..40]));
    }
}
