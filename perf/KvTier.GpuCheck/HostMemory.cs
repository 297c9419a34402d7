using System.Runtime.InteropServices;

namespace KvTier.GpuCheck;

/// <summary>An anonymous mmap'ed range, touched so every page is resident: the shape of the node's arena.</summary>
internal sealed unsafe partial class HostMemory : IDisposable
{
    private const int ProtectionReadWrite = 3;
    private const int MapPrivateAnonymous = 0x22;

    public HostMemory(ulong length)
    {
        var address = Mmap(0, (nuint)length, ProtectionReadWrite, MapPrivateAnonymous, -1, 0);
        if (address == -1)
        {
            throw new InvalidOperationException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        Address = address;
        Length = length;
        for (ulong offset = 0; offset < length; offset += 4096)
        {
            ((byte*)address)[offset] = 0;
        }
    }

    public nint Address { get; }

    public ulong Length { get; }

    public Span<byte> Slice(ulong offset, int length) => new((byte*)Address + offset, length);

    /// <summary>Fills with a position-dependent pattern, so a copy that lands shifted or partial is caught.</summary>
    public void FillPattern(ulong seed)
    {
        var words = (ulong*)Address;
        for (ulong i = 0; i < Length / 8; i++)
        {
            words[i] = (i * 0x9E3779B97F4A7C15UL) ^ seed;
        }
    }

    public bool SameBytes(HostMemory other, ulong length)
    {
        for (ulong offset = 0; offset < length; offset += int.MaxValue / 2)
        {
            var chunk = (int)Math.Min(int.MaxValue / 2, length - offset);
            if (!Slice(offset, chunk).SequenceEqual(other.Slice(offset, chunk)))
            {
                return false;
            }
        }

        return true;
    }

    public void Dispose() => _ = Munmap(Address, (nuint)Length);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    /// <summary>Closes a file descriptor (the exported dma-buf).</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    internal static partial int CloseDescriptor(int fd);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);
}
