using System.Text.Json;
using KvTier.Core.Layout;

namespace KvTier.KvCapture;

/// <summary>
/// A captured set of real K/V (and Q) tensors on disk: <c>capture.json</c> (shape and provenance), and per element
/// type <c>kv-{type}.bin</c> holding, for each layer, K then V of all tokens ([token, head, dim], the KvLayout chunk
/// layout with one chunk per layer) and <c>q-bf16.bin</c> holding each layer's queries in the same row layout.
/// </summary>
internal sealed record CapturedKv(string Directory, CaptureMetadata Metadata)
{
    public const string MetadataFileName = "capture.json";

    public int Channels => Metadata.Heads * Metadata.HeadDim;

    public static CapturedKv Load(string directory)
    {
        var path = Path.Combine(directory, MetadataFileName);
        var metadata = JsonSerializer.Deserialize<CaptureMetadata>(File.ReadAllText(path))
            ?? throw new InvalidDataException($"{path} is empty.");
        return new CapturedKv(directory, metadata);
    }

    public static string KeysAndValuesFileName(KvDataType dataType) => $"kv-{dataType.Name()}.bin";

    public const string QueriesFileName = "q-bf16.bin";

    /// <summary>All layers' K and V: layer l's chunk starts at l * 2 * Tokens * Channels elements.</summary>
    public byte[] ReadKeysAndValues(KvDataType dataType)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Directory, KeysAndValuesFileName(dataType)));
        var expected = 2L * Metadata.Layers * Metadata.Tokens * Channels * dataType.ElementSize();
        return bytes.Length == expected ? bytes
            : throw new InvalidDataException($"{KeysAndValuesFileName(dataType)} is {bytes.Length} bytes, expected {expected}.");
    }

    /// <summary>All layers' queries as floats: layer l starts at l * Tokens * Channels.</summary>
    public float[] ReadQueries()
    {
        var bytes = File.ReadAllBytes(Path.Combine(Directory, QueriesFileName));
        var queries = new float[bytes.Length / 2];
        Codecs.ElementConversion.ToFloat(bytes, KvDataType.BFloat16, queries);
        return queries;
    }

    /// <summary>Cuts the capture into per-layer block chunks of <paramref name="blockTokens"/> tokens (K rows then
    /// V rows of those tokens), as a cache would store them.</summary>
    public IEnumerable<BlockChunk> BlockChunks(byte[] keysAndValues, KvDataType dataType, int blockTokens)
    {
        var rowBytes = Channels * dataType.ElementSize();
        var tensorBytes = Metadata.Tokens * rowBytes;
        for (var layer = 0; layer < Metadata.Layers; layer++)
        {
            var layerStart = layer * 2 * tensorBytes;
            for (var first = 0; first + blockTokens <= Metadata.Tokens; first += blockTokens)
            {
                var chunk = new byte[2 * blockTokens * rowBytes];
                keysAndValues.AsSpan(layerStart + (first * rowBytes), blockTokens * rowBytes).CopyTo(chunk);
                keysAndValues.AsSpan(layerStart + tensorBytes + (first * rowBytes), blockTokens * rowBytes)
                    .CopyTo(chunk.AsSpan(blockTokens * rowBytes));
                yield return new BlockChunk(layer, first, chunk);
            }
        }
    }
}

/// <summary>One layer's chunk of one block.</summary>
internal sealed record BlockChunk(int Layer, int FirstToken, byte[] Bytes);

/// <summary>What capture.json records.</summary>
internal sealed record CaptureMetadata(string Model, int Layers, int Heads, int HeadDim, int Tokens, int Sequences,
    IReadOnlyList<string> Sources, string Command);
