using KvTier.Node.Configuration;

namespace KvTier.Node.Tests;

public class NodeOptionsTests
{
    [Fact]
    public void The_defaults_are_valid()
    {
        Assert.Empty(NodeOptionsValidator.Validate(new NodeOptions()));
    }

    [Fact]
    public void Every_bad_setting_is_named_with_its_value_in_one_error()
    {
        var options = new NodeOptions
        {
            NodeId = "has space",
            DataPlane = { Port = 70000, Host = "not-an-ip" },
            ControlPlane = { Port = 7482 },
            Storage = { ArenaSize = new ByteSize(1024) },
            Directory = { Kind = "redis" },
        };

        var error = Assert.Throws<ArgumentException>(() => NodeOptionsValidator.ThrowIfInvalid(options));
        Assert.Contains("NodeId must be 1 to 128 characters without spaces, got 'has space'", error.Message);
        Assert.Contains("DataPlane:Port must be in [0, 65535], got 70000", error.Message);
        Assert.Contains("DataPlane:Host must be an IP address, got 'not-an-ip'", error.Message);
        Assert.Contains("must differ, got 70000, 7482, 7482", error.Message);
        Assert.Contains("Storage:ArenaSize must be at least 2MiB, got 1KiB", error.Message);
        Assert.Contains("Directory:Redis must be set", error.Message);
    }

    [Theory]
    [InlineData("8GiB", 8L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("64k", 64L << 10)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData(" 4096 ", 4096L)]
    public void Sizes_parse_as_operators_write_them(string text, long bytes)
    {
        Assert.Equal(bytes, ByteSize.Parse(text).Bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("lots")]
    [InlineData("-5GiB")]
    [InlineData("5 parsecs")]
    [InlineData("99999999999TiB")]
    public void Nonsense_sizes_are_rejected_with_the_text(string text)
    {
        var error = Assert.Throws<FormatException>(() => ByteSize.Parse(text));
        Assert.Contains($"'{text}'", error.Message);
    }

    [Fact]
    public void Sizes_print_in_their_shortest_exact_binary_unit()
    {
        Assert.Equal("8GiB", new ByteSize(8L << 30).ToString());
        Assert.Equal("1536KiB", new ByteSize(1536L << 10).ToString());
        Assert.Equal("1000B", new ByteSize(1000).ToString());
    }
}
