using System.Buffers;

namespace KvTier.Node.DataPlane;

/// <summary>
/// <see cref="ReadOnlyMemory{T}"/> views of a store's arena, so leased chunks go to the socket straight from the
/// arena. A memory can span at most 2 GiB and an arena can be far larger, so the arena is covered by fixed windows
/// of 1 GiB that overlap by the largest chunk: every chunk lies wholly inside the window its offset falls in. The
/// windows are made once; a slice allocates nothing. The bytes are valid only while a lease protects them.
/// </summary>
internal sealed class ArenaMemory
{
    private readonly long arenaLength;
    private readonly long windowStride;
    private readonly Window[] windows;

    /// <summary>Covers <paramref name="length"/> bytes at <paramref name="address"/>; <paramref name="windowStride"/>
    /// (1 GiB) is a parameter only so tests can cross window boundaries in a small buffer.</summary>
    public ArenaMemory(nint address, long length, int maxChunkBytes, long windowStride = 1L << 30)
    {
        if (windowStride <= 0 || windowStride + maxChunkBytes > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(windowStride), windowStride, "A window plus the largest chunk must fit 2 GiB.");
        }

        arenaLength = length;
        this.windowStride = windowStride;
        var count = (int)Math.Max(1, (length + windowStride - 1) / windowStride);
        windows = new Window[count];
        for (var i = 0; i < count; i++)
        {
            var start = i * windowStride;
            windows[i] = new Window(address + (nint)start, (int)Math.Min(length - start, windowStride + maxChunkBytes));
        }
    }

    /// <summary>The arena bytes <c>[offset, offset + length)</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not inside the arena, or longer than the overlap.</exception>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset + length > arenaLength)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"{offset}+{length}", $"Outside the {arenaLength}-byte arena.");
        }

        var window = windows[offset / windowStride];
        var start = (int)(offset % windowStride);
        if (start + length > window.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "Longer than a chunk may be.");
        }

        return window.Memory.Slice(start, length);
    }

    private sealed unsafe class Window(nint address, int length) : MemoryManager<byte>
    {
        public int Length => length;

        public override Span<byte> GetSpan() => new((void*)address, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)address + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
