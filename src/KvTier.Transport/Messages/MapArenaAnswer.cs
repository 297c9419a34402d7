using System.Text;

namespace KvTier.Transport.Messages;

/// <summary>
/// The node's answer to <see cref="Opcode.MapArena"/>: where its shared arena file is and what a client must find in
/// it. Wire: <c>instance (16) | arena length u64 | arena file offset u64 | flags u8 (bit 0: writable) | path length
/// u16 | path (UTF-8)</c>.
/// </summary>
/// <param name="Instance">The node run that created the file (its header names it too).</param>
/// <param name="ArenaLength">Bytes of the arena; lease and reservation extents are offsets into it.</param>
/// <param name="FileOffset">Where the arena starts in the file (after its header page).</param>
/// <param name="Path">The file's path on the node's host.</param>
/// <param name="Writable">The node lets clients that can open the file for writing fill their reservations through
/// it (SharedMemory:AllowWrites; the file's group may then write it).</param>
public readonly record struct MapArenaAnswer(Guid Instance, long ArenaLength, long FileOffset, string Path, bool Writable = false)
{
    /// <summary>Longest path accepted.</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>The encoded answer.</summary>
    public byte[] Encode()
    {
        var path = Encoding.UTF8.GetBytes(Path);
        if (path.Length > MaxPathBytes)
        {
            throw new ArgumentException($"The shared arena path is {path.Length} bytes, over {MaxPathBytes}.", nameof(Path));
        }

        var body = new byte[16 + 8 + 8 + 1 + 2 + path.Length];
        var writer = new BodyWriter(body);
        Instance.TryWriteBytes(writer.Reserve(16));
        writer.WriteUInt64((ulong)ArenaLength);
        writer.WriteUInt64((ulong)FileOffset);
        writer.WriteByte(Writable ? (byte)1 : (byte)0);
        writer.WriteUInt16((ushort)path.Length);
        writer.WriteBytes(path);
        return body;
    }

    /// <summary>Decodes an answer.</summary>
    /// <exception cref="ProtocolViolationException">It is malformed; the message names the field.</exception>
    public static MapArenaAnswer Read(ReadOnlySpan<byte> body)
    {
        var reader = new BodyReader(body);
        var instance = new Guid(reader.ReadBytes(16, "instance"));
        var length = reader.ReadUInt64("arena length");
        var offset = reader.ReadUInt64("arena file offset");
        var flags = reader.ReadByte("flags");
        var pathLength = reader.ReadUInt16("path length");
        if (pathLength is 0 or > MaxPathBytes || length is 0 or > long.MaxValue / 2 || offset > long.MaxValue / 2 || flags > 1)
        {
            throw new ProtocolViolationException(
                $"MapArena answer names a {length}-byte arena at file offset {offset}, flags {flags} and a {pathLength}-byte path.");
        }

        var path = Encoding.UTF8.GetString(reader.ReadBytes(pathLength, "path"));
        reader.EnsureFullyRead("MapArena answer");
        return new MapArenaAnswer(instance, (long)length, (long)offset, path, flags == 1);
    }
}
