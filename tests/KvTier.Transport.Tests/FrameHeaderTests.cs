using System.Buffers.Binary;

namespace KvTier.Transport.Tests;

public class FrameHeaderTests
{
    private static byte[] Encode(FrameHeader header)
    {
        var bytes = new byte[FrameHeader.Size];
        header.WriteTo(bytes);
        return bytes;
    }

    [Fact]
    public void Headers_round_trip_every_field()
    {
        var header = new FrameHeader(Opcode.LeaseBlocks, FrameFlags.Response, FrameStatus.NotFound, 0xFEDC_BA98_7654_3210, 12345);
        Assert.Equal(header, FrameHeader.Read(Encode(header), FrameLimits.Default));
    }

    [Fact]
    public void A_peer_that_is_not_KvTier_is_rejected_by_magic()
    {
        var bytes = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();
        var error = Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, FrameLimits.Default));
        Assert.Contains("magic", error.Message);
    }

    [Theory]
    [InlineData(2, 9, "version")]
    [InlineData(3, 200, "opcode")]
    public void Unknown_versions_and_opcodes_are_rejected(int offset, byte value, string expectedWord)
    {
        var bytes = Encode(new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0));
        bytes[offset] = value;
        var error = Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, FrameLimits.Default));
        Assert.Contains(expectedWord, error.Message);
    }

    [Fact]
    public void Frames_carry_the_version_that_introduced_their_opcode_so_version_1_peers_keep_working()
    {
        var lease = Encode(new FrameHeader(Opcode.LeaseBlocks, FrameFlags.None, FrameStatus.Ok, 1, 0));
        var read = Encode(new FrameHeader(Opcode.ReadBlocks, FrameFlags.Response, FrameStatus.Ok, 2, 0));

        Assert.Equal(1, lease[2]);
        Assert.Equal(2, read[2]);
        Assert.Equal(Opcode.ReadBlocks, FrameHeader.Read(read, FrameLimits.Default).Opcode);
    }

    [Fact]
    public void A_version_1_frame_carrying_a_version_2_opcode_is_refused_by_name()
    {
        var bytes = Encode(new FrameHeader(Opcode.ReadBlocks, FrameFlags.None, FrameStatus.Ok, 1, 0));
        bytes[2] = 1;

        var error = Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, FrameLimits.Default));

        Assert.Contains("ReadBlocks needs protocol version 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Frames_of_a_newer_version_are_refused()
    {
        var bytes = Encode(new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0));
        bytes[2] = FrameHeader.Version + 1;

        var error = Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, FrameLimits.Default));

        Assert.Contains($"version {FrameHeader.Version + 1}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void Body_lengths_outside_the_limit_are_rejected_before_anything_is_allocated(int length)
    {
        var bytes = Encode(new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(16), length);
        var error = Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, FrameLimits.Default));
        Assert.Contains(length.ToString(), error.Message);
    }

    [Fact]
    public void Limits_are_configurable()
    {
        var bytes = Encode(new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 2048));
        Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bytes, new FrameLimits { MaxBodyBytes = 1024 }));
        Assert.Equal(2048, FrameHeader.Read(bytes, new FrameLimits { MaxBodyBytes = 4096 }).BodyLength);
    }

    [Fact]
    public void Unknown_flags_statuses_and_reserved_bits_are_rejected()
    {
        var good = Encode(new FrameHeader(Opcode.Ping, FrameFlags.None, FrameStatus.Ok, 1, 0));
        foreach (var (offset, value) in new[] { (4, (byte)0x80), (6, (byte)0xFF), (21, (byte)1) })
        {
            var bad = (byte[])good.Clone();
            bad[offset] = value;
            Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(bad, FrameLimits.Default));
        }
    }

    [Fact]
    public void Truncated_headers_are_rejected()
    {
        Assert.Throws<ProtocolViolationException>(() => FrameHeader.Read(new byte[FrameHeader.Size - 1], FrameLimits.Default));
    }

    [Fact]
    public void Random_garbage_never_parses_into_an_oversized_body()
    {
        var random = new Random(3);
        var bytes = new byte[FrameHeader.Size];
        for (var i = 0; i < 20_000; i++)
        {
            random.NextBytes(bytes);
            bytes[0] = 0x4B; // half the time keep a valid magic so the later checks are exercised too
            bytes[1] = (byte)(i % 2 == 0 ? 0x54 : bytes[1]);
            try
            {
                var header = FrameHeader.Read(bytes, FrameLimits.Default);
                Assert.InRange(header.BodyLength, 0, FrameLimits.Default.MaxBodyBytes);
            }
            catch (ProtocolViolationException)
            {
            }
        }
    }
}
