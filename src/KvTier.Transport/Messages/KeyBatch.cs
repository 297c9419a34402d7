using KvTier.Core;

namespace KvTier.Transport.Messages;

/// <summary>A batch of block keys inside a request body, read in place.</summary>
public readonly ref struct KeyBatch
{
    private readonly ReadOnlySpan<byte> keys;

    internal KeyBatch(ReadOnlySpan<byte> keys) => this.keys = keys;

    /// <summary>Number of keys.</summary>
    public int Count => keys.Length / BlockKey.Size;

    /// <summary>The key at <paramref name="index"/>.</summary>
    public BlockKey this[int index] => BlockKey.FromBytes(keys.Slice(index * BlockKey.Size, BlockKey.Size));

    internal static KeyBatch Read(scoped ref BodyReader reader, FrameLimits limits)
    {
        var count = reader.ReadCount("block count", limits.MaxBlocksPerRequest);
        return new KeyBatch(reader.ReadBytes(count * BlockKey.Size, "block keys"));
    }

    internal static void Write(ref BodyWriter writer, ReadOnlySpan<BlockKey> keys)
    {
        writer.WriteInt32(keys.Length);
        foreach (var key in keys)
        {
            writer.WriteBlockKey(key);
        }
    }

    internal static int MeasureBody(int count) => 4 + (count * BlockKey.Size);
}
