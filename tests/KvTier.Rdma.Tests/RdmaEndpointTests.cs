namespace KvTier.Rdma.Tests;

public sealed class RdmaEndpointTests
{
    [Fact]
    public void An_endpoint_survives_its_wire_form()
    {
        var endpoint = new RdmaEndpoint { QueuePairNumber = 0x12345, PacketSequenceNumber = 0xABCDEF, Lid = 7, Port = 1, GidIndex = 3, Mtu = 4096 };
        endpoint.SetGid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 20]);
        var bytes = new byte[RdmaEndpoint.SerializedSize];

        endpoint.WriteTo(bytes);
        var read = RdmaEndpoint.ReadFrom(bytes);

        Assert.Equal(endpoint, read);
        Assert.Equal(endpoint.Gid.ToArray(), read.Gid.ToArray());
        Assert.Equal(4096u, read.Mtu);
    }

    [Fact]
    public void A_queue_pair_number_beyond_24_bits_is_rejected_with_its_value()
    {
        var bytes = new byte[RdmaEndpoint.SerializedSize];
        new RdmaEndpoint { QueuePairNumber = 0x1000000, PacketSequenceNumber = 1 }.WriteTo(bytes);

        var exception = Assert.Throws<FormatException>(() => RdmaEndpoint.ReadFrom(bytes));

        Assert.Contains("16777216", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_short_buffer_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => RdmaEndpoint.ReadFrom(new byte[31]));
    }
}
