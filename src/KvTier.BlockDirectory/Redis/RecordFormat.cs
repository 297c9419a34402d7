using System.Buffers.Binary;
using System.Text;

namespace KvTier.BlockDirectory.Redis;

/// <summary>
/// The versioned binary records stored in Redis. A block is one string:
/// <c>[version=1][read-lease end ms:8][count:1]</c> followed by count entries of
/// <c>[node:8][epoch:8][tier:1][size:4][expires-at ms:8]</c>, all big-endian; the Lua scripts rely on those offsets.
/// A node is <c>[version=1][flags][epoch:8][capacity:8][free:8][len:2][data addr][len:2][control addr]</c>.
/// Anything else is not ours: readers treat it as absent and count it.
/// </summary>
internal static class RecordFormat
{
    public const byte Version = 1;
    public const int EntryLength = 29;
    public const int NodeFixedLength = 26;

    public static byte[] NodeField(NodeId node)
    {
        var field = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(field, node.Value);
        return field;
    }

    /// <summary>An entry with a zero expiry; the publish script fills in the expiry from the server clock.</summary>
    public static byte[] Entry(BlockLocation location)
    {
        var entry = new byte[EntryLength];
        BinaryPrimitives.WriteUInt64BigEndian(entry, location.Node.Value);
        BinaryPrimitives.WriteUInt64BigEndian(entry.AsSpan(8), location.Epoch);
        entry[16] = (byte)location.Tier;
        BinaryPrimitives.WriteInt32BigEndian(entry.AsSpan(17), location.SizeBytes);
        return entry;
    }

    public static bool TryReadLocation(ReadOnlySpan<byte> entry, out BlockLocation location)
    {
        location = default;
        if (entry.Length != EntryLength)
        {
            return false;
        }

        var tier = (StorageTier)entry[16];
        var size = BinaryPrimitives.ReadInt32BigEndian(entry[17..]);
        if (tier is not (StorageTier.Host or StorageTier.Nvme) || size <= 0)
        {
            return false;
        }

        location = new BlockLocation(new NodeId(BinaryPrimitives.ReadUInt64BigEndian(entry)), tier, size,
            BinaryPrimitives.ReadUInt64BigEndian(entry[8..]));
        return true;
    }

    public static byte[] EncodeNode(NodeInfo node)
    {
        var data = Encoding.UTF8.GetBytes(node.DataPlaneAddress);
        var control = Encoding.UTF8.GetBytes(node.ControlPlaneAddress);
        var record = new byte[NodeFixedLength + 2 + data.Length + 2 + control.Length];
        var span = record.AsSpan();
        span[0] = Version;
        span[1] = node.SupportsRdma ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt64BigEndian(span[2..], node.Epoch);
        BinaryPrimitives.WriteInt64BigEndian(span[10..], node.CapacityBytes);
        BinaryPrimitives.WriteInt64BigEndian(span[18..], node.FreeBytes);
        BinaryPrimitives.WriteUInt16BigEndian(span[26..], (ushort)data.Length);
        data.CopyTo(span[28..]);
        BinaryPrimitives.WriteUInt16BigEndian(span[(28 + data.Length)..], (ushort)control.Length);
        control.CopyTo(span[(30 + data.Length)..]);
        return record;
    }

    public static bool TryReadNode(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value, out NodeInfo? node)
    {
        node = null;
        if (field.Length != 8 || value.Length < NodeFixedLength + 4 || value[0] != Version || value[1] > 1)
        {
            return false;
        }

        var capacity = BinaryPrimitives.ReadInt64BigEndian(value[10..]);
        var free = BinaryPrimitives.ReadInt64BigEndian(value[18..]);
        var dataLength = BinaryPrimitives.ReadUInt16BigEndian(value[26..]);
        if (value.Length < 30 + dataLength)
        {
            return false;
        }

        var controlLength = BinaryPrimitives.ReadUInt16BigEndian(value[(28 + dataLength)..]);
        if (value.Length != 30 + dataLength + controlLength || capacity < 0 || free < 0 || free > capacity)
        {
            return false;
        }

        try
        {
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            node = new NodeInfo(new NodeId(BinaryPrimitives.ReadUInt64BigEndian(field)), BinaryPrimitives.ReadUInt64BigEndian(value[2..]),
                strict.GetString(value.Slice(28, dataLength)), strict.GetString(value.Slice(30 + dataLength, controlLength)),
                value[1] == 1, capacity, free);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
