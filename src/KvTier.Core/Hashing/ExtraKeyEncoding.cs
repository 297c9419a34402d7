using System.Formats.Cbor;

namespace KvTier.Core.Hashing;

/// <summary>Canonical CBOR encoding of extra keys, as Python's <c>cbor2.dumps(..., canonical=True)</c> writes them.
/// Extra keys are rare (LoRA, multimodal, salt), so the general-purpose writer is fine here.</summary>
internal static class ExtraKeyEncoding
{
    public static byte[] EncodeTuple(IReadOnlyList<HashExtraKey> keys)
    {
        var writer = new CborWriter(CborConformanceMode.Canonical);
        WriteTuple(writer, keys);
        return writer.Encode();
    }

    private static void WriteTuple(CborWriter writer, IReadOnlyList<HashExtraKey> items)
    {
        writer.WriteStartArray(items.Count);
        foreach (var item in items)
        {
            Write(writer, item);
        }

        writer.WriteEndArray();
    }

    private static void Write(CborWriter writer, HashExtraKey key)
    {
        switch (key)
        {
            case HashExtraKey.TextKey text:
                writer.WriteTextString(text.Value);
                break;
            case HashExtraKey.IntegerKey integer:
                writer.WriteInt64(integer.Value);
                break;
            case HashExtraKey.BytesKey bytes:
                writer.WriteByteString(bytes.Value);
                break;
            case HashExtraKey.TupleKey tuple:
                WriteTuple(writer, tuple.Items);
                break;
            default:
                throw new ArgumentException($"Unsupported extra key type {key?.GetType().Name ?? "null"}.", nameof(key));
        }
    }
}
