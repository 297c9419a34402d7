using System.Text;
using KvTier.Core;
using StackExchange.Redis;

namespace KvTier.BlockDirectory.Redis;

/// <summary>
/// Key layout. A block lives in a string at <c>{prefix}kvt:b{NS.ANCHOR}KEY</c>: NS is the namespace id and ANCHOR the
/// high 64 bits of the key's span anchor, both hex, inside the hash tag; KEY is the raw 16-byte block key after the
/// tag (raw bytes there cannot disturb the tag). Membership lives under one tag, <c>{prefix}kvt:{nodes}:...</c>.
/// </summary>
internal sealed class RedisKeys
{
    private readonly byte[] blockPrefix;

    public RedisKeys(string keyPrefix)
    {
        Prefix = keyPrefix;
        blockPrefix = Encoding.ASCII.GetBytes(keyPrefix + "kvt:b{");
        Registry = keyPrefix + "kvt:{nodes}:registry";
        NodeKeyBase = Encoding.ASCII.GetBytes(keyPrefix + "kvt:{nodes}:node:");
        AllBlocksPattern = keyPrefix + "kvt:b{*";
    }

    public string Prefix { get; }

    public RedisKey Registry { get; }

    /// <summary>A node's heartbeat key is this followed by the raw 8-byte node id.</summary>
    public byte[] NodeKeyBase { get; }

    public string AllBlocksPattern { get; }

    public string NamespacePattern(NamespaceId ns) => $"{Prefix}kvt:b{{{ns}.*";

    public RedisKey Node(NodeId node) => (byte[])[.. NodeKeyBase, .. RecordFormat.NodeField(node)];

    public RedisKey Block(NamespaceId ns, DirectoryKey key) => Block(ns, key.Anchor.High, key.Key);

    public RedisKey Block(NamespaceId ns, ulong anchorHigh, BlockKey key)
    {
        // prefix + "NNNNNNNNNNNNNNNN.AAAAAAAAAAAAAAAA}" + 16 raw bytes
        var bytes = new byte[blockPrefix.Length + 16 + 1 + 16 + 1 + BlockKey.Size];
        blockPrefix.CopyTo(bytes, 0);
        var position = blockPrefix.Length;
        ns.Value.TryFormat(bytes.AsSpan(position, 16), out _, "x16");
        position += 16;
        bytes[position++] = (byte)'.';
        anchorHigh.TryFormat(bytes.AsSpan(position, 16), out _, "x16");
        position += 16;
        bytes[position++] = (byte)'}';
        key.WriteTo(bytes.AsSpan(position));
        return bytes;
    }
}
