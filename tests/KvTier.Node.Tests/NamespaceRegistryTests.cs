using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;

namespace KvTier.Node.Tests;

public class NamespaceRegistryTests
{
    private static readonly KvNamespace Llama = KvNamespace.ForPreset(ModelPresets.Llama3With8B, "acme", KvDataType.BFloat16, 16,
        BlockHashAlgorithm.Sha256Cbor);

    [Fact]
    public void A_namespace_survives_the_trip_through_its_control_plane_form_with_the_same_id()
    {
        var back = NamespaceRegistry.FromDescriptor(NamespaceRegistry.ToDescriptor(Llama));
        Assert.Equal(Llama, back);
        Assert.Equal(Llama.Id, back.Id);
    }

    [Fact]
    public void Registration_is_idempotent_and_removal_forgets()
    {
        var registry = new NamespaceRegistry();
        Assert.Equal(Llama.Id, registry.Register(Llama));
        Assert.Equal(Llama.Id, registry.Register(Llama));
        Assert.Single(registry.All);
        Assert.True(registry.Contains(Llama.Id));
        Assert.True(registry.Remove(Llama.Id));
        Assert.False(registry.Contains(Llama.Id));
        Assert.False(registry.Remove(Llama.Id));
    }

    [Fact]
    public void Descriptors_with_missing_or_bad_fields_are_rejected_naming_them()
    {
        var noLayout = NamespaceRegistry.ToDescriptor(Llama);
        noLayout.Layout = null;
        Assert.Contains("layout is missing", Assert.Throws<ArgumentException>(() => NamespaceRegistry.FromDescriptor(noLayout)).Message);

        var badType = NamespaceRegistry.ToDescriptor(Llama);
        badType.Layout.DataType = "int3";
        Assert.Contains("'int3'", Assert.Throws<ArgumentException>(() => NamespaceRegistry.FromDescriptor(badType)).Message);

        var zeroLayers = NamespaceRegistry.ToDescriptor(Llama);
        zeroLayers.Layout.Layers = 0;
        Assert.Equal("layers", Assert.Throws<ArgumentOutOfRangeException>(() => NamespaceRegistry.FromDescriptor(zeroLayers)).ParamName);

        var hugeHeads = NamespaceRegistry.ToDescriptor(Llama);
        hugeHeads.Layout.KvHeads = uint.MaxValue;
        Assert.Throws<ArgumentOutOfRangeException>(() => NamespaceRegistry.FromDescriptor(hugeHeads));
    }
}
