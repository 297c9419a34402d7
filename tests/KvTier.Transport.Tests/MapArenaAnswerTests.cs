using KvTier.Transport.Messages;

namespace KvTier.Transport.Tests;

public sealed class MapArenaAnswerTests
{
    [Fact]
    public void An_answer_reads_back_as_written()
    {
        var answer = new MapArenaAnswer(Guid.NewGuid(), 64L << 30, 4096, "/dev/shm/kvtier-arena-n1-0123.shm");

        Assert.Equal(answer, MapArenaAnswer.Read(answer.Encode()));
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
    public void Trailing_bytes_an_empty_path_or_an_empty_arena_are_refused()
    {
        var good = new MapArenaAnswer(Guid.NewGuid(), 1 << 30, 4096, "/dev/shm/a.shm").Encode();
        var trailing = good.Concat(new byte[] { 0 }).ToArray();
        var emptyPath = good.AsSpan(0, 34).ToArray(); // path length 0
        emptyPath[32] = 0;
        emptyPath[33] = 0;
        var emptyArena = (byte[])good.Clone();
        emptyArena.AsSpan(16, 8).Clear();

        Assert.Contains("MapArena answer", Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(trailing)).Message, StringComparison.Ordinal);
        Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(emptyPath));
        Assert.Throws<ProtocolViolationException>(() => MapArenaAnswer.Read(emptyArena));
    }
}
