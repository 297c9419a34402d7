using KvTier.Transport.Messages;

namespace KvTier.Transport.Tests;

public sealed class MapArenaAnswerTests
{
    [Fact]
    public void An_answer_reads_back_as_written()
    {
        var answer = new MapArenaAnswer(Guid.NewGuid(), 64L << 30, 2 << 20, "/dev/shm/kvtier-arena-n1-0123.shm");
        var writable = answer with { Writable = true };

        Assert.Equal(answer, MapArenaAnswer.Read(answer.Encode()));
        Assert.Equal(writable, MapArenaAnswer.Read(writable.Encode()));
    }

    [Theory]
    [InlineData(0)] // cut anywhere: a field is missing
    [InlineData(17)]
    [InlineData(33)]
    public void A_truncated_answer_is_a_protocol_violation(int keep)
    {
        var body = new MapArenaAnswer(Guid.NewGuid(), 1 << 30, 4096, "/dev/shm/a.shm").Encode();

        Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(body.AsSpan(0, keep)));
    }

    [Fact]
    public void Trailing_bytes_an_empty_path_an_empty_arena_or_unknown_flags_are_refused()
    {
        var good = new MapArenaAnswer(Guid.NewGuid(), 1 << 30, 4096, "/dev/shm/a.shm").Encode();
        var trailing = good.Concat(new byte[] { 0 }).ToArray();
        var emptyPath = good.AsSpan(0, 35).ToArray(); // path length 0
        emptyPath[33] = 0;
        emptyPath[34] = 0;
        var emptyArena = (byte[])good.Clone();
        emptyArena.AsSpan(16, 8).Clear();
        var unknownFlags = (byte[])good.Clone();
        unknownFlags[32] = 2;

        Assert.Contains("MapArena answer", Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(trailing)).Message, StringComparison.Ordinal);
        Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(emptyPath));
        Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(emptyArena));
        Assert.Contains("flags 2", Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(unknownFlags)).Message, StringComparison.Ordinal);
    }
}
