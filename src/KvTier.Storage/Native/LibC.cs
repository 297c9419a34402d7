using System.Runtime.InteropServices;

namespace KvTier.Storage.Native;

/// <summary>The few libc calls the host arena and the segment files need; blittable signatures, errno captured.</summary>
internal static partial class LibC
{
    private const string Library = "libc";

    public const int ProtRead = 0x1;
    public const int ProtWrite = 0x2;
    public const int MapShared = 0x01;
    public const int MapPrivate = 0x02;
    public const int MapAnonymous = 0x20;
    public const int MapNoReserve = 0x4000;
    public const int MapHugeTlb = 0x40000;
    public const int MadviseHugePage = 14;
    public const int OpenReadWrite = 0x2;
    public const int OpenCreate = 0x40;
    public const int OpenDirect = 0x4000;
    public const int OpenCloseOnExec = 0x80000;
    public const int ErrorInvalidArgument = 22;
    public static readonly nint MapFailed = -1;

    [LibraryImport(Library, EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport(Library, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint address, nuint length);

    [LibraryImport(Library, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint address, nuint length, int advice);

    [LibraryImport(Library, EntryPoint = "mlock", SetLastError = true)]
    public static partial int Mlock(nint address, nuint length);

    [LibraryImport(Library, EntryPoint = "munlock", SetLastError = true)]
    public static partial int Munlock(nint address, nuint length);

    [LibraryImport(Library, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Library, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary>The text of an errno value, for log lines and exceptions.</summary>
    public static string Describe(int errno) => $"errno {errno} ({Marshal.GetPInvokeErrorMessage(errno)})";
}
