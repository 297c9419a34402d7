using System.Runtime.InteropServices;

namespace KvTier.Storage.Nvme;

/// <summary>
/// Page-aligned native memory for O_DIRECT transfers. Each thread keeps one, grown on demand, so the I/O path does
/// not allocate per record.
/// </summary>
internal sealed unsafe class AlignedBuffer : IDisposable
{
    public const int Alignment = 4096;

    [ThreadStatic]
    private static AlignedBuffer? forReads;

    [ThreadStatic]
    private static AlignedBuffer? forWrites;

    private void* memory;

    private AlignedBuffer(int length)
    {
        Length = length;
        memory = NativeMemory.AlignedAlloc((nuint)length, Alignment);
    }

    ~AlignedBuffer() => Release();

    public int Length { get; }

    public Span<byte> Span => new(memory, Length);

    /// <summary>This thread's read buffer, at least <paramref name="length"/> bytes; valid until this thread's next read.</summary>
    public static AlignedBuffer ForReads(int length) => Ensure(ref forReads, length);

    /// <summary>This thread's write staging buffer (separate, so a record read can be re-appended as is).</summary>
    public static AlignedBuffer ForWrites(int length) => Ensure(ref forWrites, length);

    private static AlignedBuffer Ensure(ref AlignedBuffer? slot, int length)
    {
        var buffer = slot;
        if (buffer is null || buffer.Length < length)
        {
            buffer?.Dispose();
            buffer = slot = new AlignedBuffer(RoundUp(Math.Max(length, 1 << 16)));
        }

        return buffer;
    }

    public static long RoundUp(long length) => (length + Alignment - 1) & ~(long)(Alignment - 1);

    public static int RoundUp(int length) => (length + Alignment - 1) & ~(Alignment - 1);

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    private void Release()
    {
        if (memory != null)
        {
            NativeMemory.AlignedFree(memory);
            memory = null;
        }
    }
}
