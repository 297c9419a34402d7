namespace KvTier.Transport.Tests;

public sealed class NamespaceScopedOpcodesTests
{
    [Fact]
    public void Every_opcode_is_classified_as_naming_a_namespace_or_not_exactly_once()
    {
        // A new opcode must be added to one list in NamespaceScopedOpcodes, or nodes with authentication refuse it.
        foreach (var opcode in Enum.GetValues<Opcode>())
        {
            Assert.True(NamespaceScopedOpcodes.CarriesNamespace(opcode) ^ NamespaceScopedOpcodes.CarriesNoNamespace(opcode),
                $"Opcode {opcode} must be in exactly one of NamespaceScopedOpcodes.CarriesNamespace and CarriesNoNamespace.");
        }
    }

    [Fact]
    public void The_namespace_is_read_from_the_start_of_a_namespace_bearing_body()
    {
        var body = new byte[Messages.LeaseBlocksRequest.MeasureBody(1)];
        Messages.LeaseBlocksRequest.Write(body, new Core.NamespaceId(0x1234_5678_9abc_def0), 0, 0, 1000, [new Core.BlockKey(1, 2)]);

        Assert.True(NamespaceScopedOpcodes.TryRead(Opcode.LeaseBlocks, body, out var ns));
        Assert.Equal(0x1234_5678_9abc_def0UL, ns.Value);
        Assert.False(NamespaceScopedOpcodes.TryRead(Opcode.ReadExtents, body, out _));
        Assert.Throws<ProtocolViolationException>(() => NamespaceScopedOpcodes.TryRead(Opcode.ContainsBlocks, body.AsSpan(0, 4), out _));
    }
}
