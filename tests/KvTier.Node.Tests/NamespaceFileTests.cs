using System.Buffers.Binary;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Node.Tests;

public sealed class NamespaceFileTests : IDisposable
{
    private static readonly KvNamespace Llama = KvNamespace.ForPreset(ModelPresets.Llama3With8B, "acme", KvDataType.BFloat16, 16, BlockHashAlgorithm.Xxh3);
    private static readonly KvNamespace Tiny = new("tiny", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, 16), "t", BlockHashAlgorithm.Xxh3, "lz4", 1000);
    private readonly string folder = Directory.CreateTempSubdirectory("kvtier-namespaces-").FullName;

    private string FilePath => Path.Combine(folder, NamespaceFile.FileName);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void A_registry_reopened_on_its_folder_serves_what_was_registered_and_not_what_was_dropped()
    {
        var first = new NamespaceRegistry();
        Assert.Equal(0, first.OpenFile(folder));
        first.Register(Llama);
        first.Register(Tiny);
        first.Remove(Tiny.Id);

        var second = new NamespaceRegistry();
        Assert.Equal(1, second.OpenFile(folder));

        Assert.Equal(Llama, Assert.Single(second.All));
        Assert.False(File.Exists(FilePath + ".tmp"));
    }

    [Fact]
    public void Namespaces_registered_before_the_file_opens_are_kept_and_persisted()
    {
        NamespaceFile.Write(FilePath, [Llama]);
        var registry = new NamespaceRegistry();
        registry.Register(Tiny);

        registry.OpenFile(folder);

        Assert.Equal(2, registry.All.Count);
        Assert.Equal(2, NamespaceFile.Read(FilePath).Count);
    }

    [Theory]
    [InlineData("flipped payload byte", "its checksum does not match")]
    [InlineData("truncated", "payload bytes but")]
    [InlineData("bad magic", "not a KvTier namespaces file")]
    [InlineData("future version", "format version is 2")]
    public void A_damaged_file_is_refused_with_its_path_and_the_reason(string damage, string reason)
    {
        NamespaceFile.Write(FilePath, [Llama, Tiny]);
        var bytes = File.ReadAllBytes(FilePath);
        switch (damage)
        {
            case "flipped payload byte":
                bytes[^3] ^= 0x10;
                break;
            case "truncated":
                bytes = bytes[..^5];
                break;
            case "bad magic":
                bytes[0] = (byte)'X';
                break;
            default:
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
                break;
        }

        File.WriteAllBytes(FilePath, bytes);

        var error = Assert.Throws<InvalidDataException>(() => new NamespaceRegistry().OpenFile(folder));
        Assert.Contains($"'{FilePath}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Equal(bytes, File.ReadAllBytes(FilePath)); // the damaged file is left for the operator, not overwritten
    }

    [Fact]
    public void A_missing_file_means_no_namespaces_yet()
    {
        Assert.Empty(NamespaceFile.Read(FilePath));
    }
}
