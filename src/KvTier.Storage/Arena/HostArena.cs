using KvTier.Core.SharedMemory;
using KvTier.Storage.Native;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace KvTier.Storage.Arena;

/// <summary>
/// One large anonymous mapping that holds every host-tier block at a stable address, so the whole region can be
/// registered once with an RDMA NIC or CUDA. Huge pages and mlock are best effort: what was obtained is logged and
/// exposed in <see cref="HugePages"/> and <see cref="IsLocked"/>. A shared arena (<see cref="CreateShared"/>) lives in a
/// file on a memory file system instead, so clients on the same host can map it.
/// </summary>
public sealed unsafe class HostArena : IDisposable
{
    private nint address;

    private HostArena(nint address, long length, HugePageMode hugePages, bool isLocked, SharedArenaFile? shared = null)
    {
        this.address = address;
        Length = length;
        HugePages = hugePages;
        IsLocked = isLocked;
        Shared = shared;
    }

    /// <summary>The file a shared arena lives in; null for a private (anonymous) arena.</summary>
    public SharedArenaFile? Shared { get; }

    /// <summary>First byte of the arena; stable for the arena's lifetime.</summary>
    public nint Address => address != 0 ? address : throw new ObjectDisposedException(nameof(HostArena));

    /// <summary>Size in bytes (a multiple of 2 MiB).</summary>
    public long Length { get; }

    /// <summary>Which page kind backs the arena.</summary>
    public HugePageMode HugePages { get; }

    /// <summary>Whether mlock succeeded, so the arena cannot be swapped out.</summary>
    public bool IsLocked { get; }

    /// <summary>The bytes at <paramref name="offset"/>; the caller guarantees the extent lies inside the arena.</summary>
    public Span<byte> Slice(long offset, int length)
    {
        if ((ulong)offset + (ulong)length > (ulong)Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Extent [{offset}, +{length}) lies outside the {Length}-byte arena.");
        }

        return new Span<byte>((byte*)Address + offset, length);
    }

    /// <summary>Maps an arena of <paramref name="length"/> bytes (rounded up to 2 MiB).</summary>
    public static HostArena Create(long length, bool tryHugeTlb = true, bool tryLock = true, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        const long hugePage = 2L << 20;
        if (length <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The host arena needs a positive size.");
        }

        length = (length + hugePage - 1) / hugePage * hugePage;
        const int protection = LibC.ProtRead | LibC.ProtWrite;
        const int flags = LibC.MapPrivate | LibC.MapAnonymous | LibC.MapNoReserve;
        var mode = HugePageMode.None;
        var mapped = LibC.MapFailed;
        if (tryHugeTlb)
        {
            // No MAP_NORESERVE here: hugetlb pages must be reserved up front, or the first touch of a missing one is SIGBUS.
            mapped = LibC.Mmap(0, (nuint)length, protection, LibC.MapPrivate | LibC.MapAnonymous | LibC.MapHugeTlb, -1, 0);
            if (mapped != LibC.MapFailed)
            {
                mode = HugePageMode.HugeTlb;
            }
            else
            {
                logger.LogInformation("Host arena: MAP_HUGETLB unavailable ({Error}); trying transparent huge pages.",
                    LibC.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()));
            }
        }

        if (mapped == LibC.MapFailed)
        {
            mapped = LibC.Mmap(0, (nuint)length, protection, flags, -1, 0);
            if (mapped == LibC.MapFailed)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                throw new InsufficientMemoryException($"mmap of a {length}-byte host arena failed: {LibC.Describe(errno)}.");
            }

            if (LibC.Madvise(mapped, (nuint)length, LibC.MadviseHugePage) == 0)
            {
                mode = HugePageMode.TransparentHugePages;
            }
            else
            {
                logger.LogWarning("Host arena: madvise(MADV_HUGEPAGE) failed ({Error}); using 4 KiB pages.",
                    LibC.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()));
            }
        }

        var locked = false;
        if (tryLock)
        {
            locked = LibC.Mlock(mapped, (nuint)length) == 0;
            if (!locked)
            {
                logger.LogWarning("Host arena: mlock of {Length} bytes failed ({Error}, see RLIMIT_MEMLOCK); the arena may be swapped.",
                    length, LibC.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()));
            }
        }

        logger.LogInformation("Host arena: {Length} bytes at 0x{Address:x}, pages {Mode}, locked {Locked}.", length, mapped, mode, locked);
        return new HostArena(mapped, length, mode, locked);
    }

    /// <summary>
    /// Maps an arena of <paramref name="length"/> bytes (rounded up to 2 MiB) from a new file in
    /// <paramref name="directory"/> (a memory file system: /dev/shm, or a volume of medium Memory), behind a
    /// <see cref="SharedArenaHeader"/> naming <paramref name="instance"/>. The file's pages are allocated up front, so a
    /// full file system fails here rather than as SIGBUS on a later store. Files an earlier run of the same node left
    /// behind are removed (a client still mapping one keeps its pages until it unmaps). The file is removed on dispose.
    /// </summary>
    /// <exception cref="IOException">The file cannot be created or sized (the message names the path and the cause).</exception>
    public static HostArena CreateShared(string directory, string nodeId, Guid instance, long length, bool tryLock = true, ILogger? logger = null,
        bool groupWrites = false)
    {
        logger ??= NullLogger.Instance;
        const long hugePage = 2L << 20;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        length = (length + hugePage - 1) / hugePage * hugePage;
        var file = SharedArenaFile.Create(directory, nodeId, instance, length, groupWrites, logger);
        nint header = LibC.MapFailed;
        nint mapped = LibC.MapFailed;
        try
        {
            using (var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite))
            {
                var fd = (int)handle.DangerousGetHandle();
                header = LibC.Mmap(0, (nuint)SharedArenaHeader.ArenaOffset, LibC.ProtRead | LibC.ProtWrite, LibC.MapShared, fd, 0);
                mapped = LibC.Mmap(0, (nuint)length, LibC.ProtRead | LibC.ProtWrite, LibC.MapShared, fd, SharedArenaHeader.ArenaOffset);
                if (header == LibC.MapFailed || mapped == LibC.MapFailed)
                {
                    throw new IOException($"mmap of the shared arena file {file.Path} failed: " +
                        $"{LibC.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError())}.");
                }
            }

            // Written last: a client that finds the header finds a complete, sized file.
            SharedArenaHeader.Write(new Span<byte>((void*)header, SharedArenaHeader.Size), instance, length);
            _ = LibC.Munmap(header, (nuint)SharedArenaHeader.ArenaOffset);
            header = LibC.MapFailed;
            var mode = LibC.Madvise(mapped, (nuint)length, LibC.MadviseHugePage) == 0 ? HugePageMode.TransparentHugePages : HugePageMode.None;
            var locked = tryLock && LibC.Mlock(mapped, (nuint)length) == 0;
            if (tryLock && !locked)
            {
                logger.LogWarning("Shared host arena: mlock of {Length} bytes failed ({Error}, see RLIMIT_MEMLOCK); the arena may be swapped.",
                    length, LibC.Describe(System.Runtime.InteropServices.Marshal.GetLastPInvokeError()));
            }

            logger.LogInformation("Host arena: {Length} bytes shared through {Path} (instance {Instance}), pages {Mode}, locked {Locked}.",
                length, file.Path, instance, mode, locked);
            return new HostArena(mapped, length, mode, locked, file);
        }
        catch
        {
            if (header != LibC.MapFailed)
            {
                _ = LibC.Munmap(header, (nuint)SharedArenaHeader.ArenaOffset);
            }

            if (mapped != LibC.MapFailed)
            {
                _ = LibC.Munmap(mapped, (nuint)length);
            }

            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        var mapped = Interlocked.Exchange(ref address, 0);
        if (mapped == 0)
        {
            return;
        }

        if (IsLocked)
        {
            _ = LibC.Munlock(mapped, (nuint)Length);
        }

        _ = LibC.Munmap(mapped, (nuint)Length);
        Shared?.Dispose();
    }
}
