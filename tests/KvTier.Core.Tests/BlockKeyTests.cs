namespace KvTier.Core.Tests;

public class BlockKeyTests
{
    [Fact]
    public void Byte_form_is_big_endian_high_half_first_and_round_trips()
    {
        var key = new BlockKey(0x0102030405060708, 0x090A0B0C0D0E0F10);
        var bytes = new byte[BlockKey.Size];
        key.WriteTo(bytes);

        Assert.Equal(Enumerable.Range(1, 16).Select(i => (byte)i), bytes);
        Assert.Equal(key, BlockKey.FromBytes(bytes));
    }

    [Fact]
    public void Hex_form_round_trips()
    {
        var key = new BlockKey(0xDEADBEEF00000001, 42);
        Assert.Equal("deadbeef00000001000000000000002a", key.ToString());
        Assert.Equal(key, BlockKey.Parse(key.ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("zz0000000000000000000000000000000")]
    [InlineData("zz000000000000000000000000000000")]
    public void Parsing_rejects_text_that_is_not_32_hex_digits(string text)
    {
        var error = Assert.Throws<FormatException>(() => BlockKey.Parse(text));
        Assert.Contains("32 hexadecimal", error.Message);
    }

    [Fact]
    public void Short_buffers_are_rejected_with_their_size()
    {
        var error = Assert.Throws<ArgumentException>(() => BlockKey.FromBytes(new byte[15]));
        Assert.Contains("got 15", error.Message);
        Assert.Throws<ArgumentException>(() => new BlockKey(1, 2).WriteTo(new byte[8]));
    }

    [Fact]
    public void Keys_order_as_unsigned_128_bit_numbers()
    {
        var small = new BlockKey(1, ulong.MaxValue);
        var large = new BlockKey(2, 0);
        Assert.True(small < large);
        Assert.True(large > small);
        Assert.True(new BlockKey(ulong.MaxValue, 0) > new BlockKey(0, ulong.MaxValue));
    }
}
