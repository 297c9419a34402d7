using KvTier.Core;

namespace KvTier.Transport.Tests;

public class BodyReaderTests
{
    [Fact]
    public void What_the_writer_writes_the_reader_reads_back()
    {
        var buffer = new byte[64];
        var writer = new BodyWriter(buffer);
        writer.WriteByte(7);
        writer.WriteUInt16(513);
        writer.WriteUInt32(3);
        writer.WriteUInt64(ulong.MaxValue - 1);
        writer.WriteBlockKey(new BlockKey(1, 2));
        writer.WriteBytes([9, 8, 7]);

        var reader = new BodyReader(buffer.AsSpan(0, writer.Written));
        Assert.Equal(7, reader.ReadByte("a"));
        Assert.Equal(513, reader.ReadUInt16("b"));
        Assert.Equal(3, reader.ReadCount("c", max: 3));
        Assert.Equal(ulong.MaxValue - 1, reader.ReadUInt64("d"));
        Assert.Equal(new BlockKey(1, 2), reader.ReadBlockKey("e"));
        Assert.Equal([9, 8, 7], reader.ReadBytes(3, "f").ToArray());
        reader.EnsureFullyRead("test");
    }

    [Fact]
    public void Reading_past_the_end_names_the_field_and_offset()
    {
        var error = Assert.Throws<ProtocolViolationException>(() =>
        {
            var reader = new BodyReader(new byte[5]);
            reader.ReadUInt32("first");
            reader.ReadUInt32("block count");
        });
        Assert.Contains("block count needs 4 bytes at offset 4, 1 left", error.Message);
    }

    [Fact]
    public void Counts_over_their_limit_are_rejected()
    {
        var error = Assert.Throws<ProtocolViolationException>(() =>
        {
            var reader = new BodyReader(BitConverter.GetBytes(5000u));
            reader.ReadCount("block count", max: 4096);
        });
        Assert.Contains("block count is 5000, over the limit of 4096", error.Message);
    }

    [Fact]
    public void Negative_lengths_and_trailing_bytes_are_rejected()
    {
        Assert.Throws<ProtocolViolationException>(() => new BodyReader(new byte[4]).ReadBytes(-1, "x"));
        Assert.Throws<ProtocolViolationException>(() => new BodyReader(new byte[4]).EnsureFullyRead("Ping"));
    }

    [Fact]
    public void The_writer_refuses_to_overflow_its_buffer()
    {
        Assert.Throws<InvalidOperationException>(() => new BodyWriter(new byte[3]).WriteUInt32(1));
    }
}
