using System.Runtime.InteropServices;
using KvTier.Node.DataPlane;

namespace KvTier.Node.Tests.DataPlane;

/// <summary>Arena views for sends: windows overlap by the largest chunk, so a chunk across a window boundary is whole.</summary>
public sealed unsafe class ArenaMemoryTests : IDisposable
{
    private const int Length = (3 << 20) + 12345;
    private readonly byte* arena = (byte*)NativeMemory.Alloc(Length);

    public ArenaMemoryTests()
    {
        new Random(5).NextBytes(new Span<byte>(arena, Length));
    }

    public void Dispose() => NativeMemory.Free(arena);

    [Theory]
    [InlineData(0, 4096)]
    [InlineData((1 << 20) - 100, 256 << 10)] // crosses the first window boundary
    [InlineData((2 << 20) + 5, 256 << 10)]
    [InlineData(Length - 300, 300)] // ends at the arena's last byte
    public void A_slice_holds_exactly_the_arena_bytes_even_across_a_window_boundary(long offset, int length)
    {
        var memory = new ArenaMemory((nint)arena, Length, maxChunkBytes: 256 << 10, windowStride: 1 << 20);

        var slice = memory.Slice(offset, length);

        Assert.True(slice.Span.SequenceEqual(new ReadOnlySpan<byte>(arena + offset, length)));
    }

    [Theory]
    [InlineData(-1, 10)]
    [InlineData(Length - 10, 11)]
    [InlineData((1 << 20) - 100, (256 << 10) + 101)] // longer than a chunk may be, past its window's overlap
    public void Slices_outside_the_arena_or_longer_than_a_chunk_are_refused(long offset, int length)
    {
        var memory = new ArenaMemory((nint)arena, Length, maxChunkBytes: 256 << 10, windowStride: 1 << 20);

        Assert.Throws<ArgumentOutOfRangeException>(() => memory.Slice(offset, length));
    }
}
