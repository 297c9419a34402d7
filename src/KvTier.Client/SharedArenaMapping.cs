using System.IO.MemoryMappedFiles;
using KvTier.Core.SharedMemory;
using KvTier.Transport.Messages;

namespace KvTier.Client;

/// <summary>
/// A read-only mapping of a node's shared arena file, checked against what the node said over its authenticated
/// connection (the header names the same run and arena length). Reads hold a reference while they copy; a mapping
/// replaced after the node restarted is unmapped when its last read ends.
/// </summary>
internal sealed unsafe class SharedArenaMapping
{
    private readonly MemoryMappedFile file;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* start;
    private int references = 1;

    private SharedArenaMapping(MemoryMappedFile file, MemoryMappedViewAccessor view, byte* start, MapArenaAnswer answer, Guid? peer)
    {
        this.file = file;
        this.view = view;
        this.start = start;
        Answer = answer;
        Peer = peer;
    }

    /// <summary>What the node said: path, run, arena length.</summary>
    public MapArenaAnswer Answer { get; }

    /// <summary>The node run of the connection that asked (leases on a connection to another run are not for this arena).</summary>
    public Guid? Peer { get; }

    /// <summary>Maps the file the node named and checks its header.</summary>
    /// <exception cref="IOException">It cannot be opened or mapped here, or it is not the node's arena; the message says why.</exception>
    public static SharedArenaMapping Open(MapArenaAnswer answer, Guid? peer)
    {
        var needed = answer.FileOffset + answer.ArenaLength;
        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            var length = new FileInfo(answer.Path).Length;
            if (length < needed)
            {
                throw new IOException($"{answer.Path} holds {length} bytes; the node's arena needs {needed}");
            }

            file = MemoryMappedFile.CreateFromFile(answer.Path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = file.CreateViewAccessor(0, needed, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset;
            var problem = SharedArenaHeader.Check(new ReadOnlySpan<byte>(pointer, SharedArenaHeader.Size), answer.Instance, answer.ArenaLength);
            if (problem is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                throw new IOException(problem);
            }

            return new SharedArenaMapping(file, view, pointer, answer, peer);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException)
        {
            view?.Dispose();
            file?.Dispose();
            throw new IOException($"cannot map the node's shared arena {answer.Path}: {error.Message}", error);
        }
    }

    /// <summary>The <paramref name="length"/> bytes at <paramref name="offset"/> of the arena; false when the extent lies
    /// outside it (a node never leases such an extent; the read of that chunk fails).</summary>
    public bool TrySlice(ulong offset, int length, out ReadOnlySpan<byte> bytes)
    {
        if (length < 0 || offset > (ulong)Answer.ArenaLength || (ulong)length > (ulong)Answer.ArenaLength - offset)
        {
            bytes = default;
            return false;
        }

        bytes = new ReadOnlySpan<byte>(start + Answer.FileOffset + (long)offset, length);
        return true;
    }

    /// <summary>Takes a reference for one read; false once the mapping was retired and unmapped.</summary>
    public bool TryAcquire()
    {
        var seen = Volatile.Read(ref references);
        while (seen > 0)
        {
            var previous = Interlocked.CompareExchange(ref references, seen + 1, seen);
            if (previous == seen)
            {
                return true;
            }

            seen = previous;
        }

        return false;
    }

    /// <summary>Drops a reference (a read's, or the channel's own when it retires the mapping); the last one unmaps.</summary>
    public void Release()
    {
        if (Interlocked.Decrement(ref references) == 0)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            file.Dispose();
        }
    }
}
