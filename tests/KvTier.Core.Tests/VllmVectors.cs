using System.Text.Json;
using KvTier.Core.Hashing;

namespace KvTier.Core.Tests;

/// <summary>Reads Vectors/vllm-sha256-cbor-vectors.json, made by Vectors/make-vllm-vectors.mjs.</summary>
internal sealed record VllmVectors(string Seed, string? CacheSalt, int BlockSize, int[] Tokens,
    IReadOnlyList<IReadOnlyList<HashExtraKey>?> ExtraKeysPerBlock, string NoneHash, IReadOnlyList<string> Digests,
    IReadOnlyList<ulong> EventHashes)
{
    public static IReadOnlyList<VllmVectors> Load()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Vectors", "vllm-sha256-cbor-vectors.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("cases").EnumerateArray().Select(c => new VllmVectors(
            c.GetProperty("seed").GetString()!,
            c.GetProperty("cacheSalt").ValueKind == JsonValueKind.Null ? null : c.GetProperty("cacheSalt").GetString(),
            c.GetProperty("blockSize").GetInt32(),
            c.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt32()).ToArray(),
            c.GetProperty("extraKeysPerBlock").EnumerateArray()
                .Select(block => (IReadOnlyList<HashExtraKey>?)block.EnumerateArray().Select(ToExtraKey).ToList()).ToList(),
            c.GetProperty("noneHash").GetString()!,
            c.GetProperty("digests").EnumerateArray().Select(d => d.GetString()!).ToList(),
            c.GetProperty("eventHashes").EnumerateArray().Select(d => ulong.Parse(d.GetString()!)).ToList())).ToList();
    }

    private static HashExtraKey ToExtraKey(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => HashExtraKey.Of(element.GetString()!),
        JsonValueKind.Number => HashExtraKey.Of(element.GetInt64()),
        JsonValueKind.Array => HashExtraKey.Tuple(element.EnumerateArray().Select(ToExtraKey).ToArray()),
        _ => throw new InvalidDataException($"Unsupported extra key {element}."),
    };
}
