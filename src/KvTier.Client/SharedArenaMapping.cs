using System.IO.MemoryMappedFiles;
using KvTier.Core.SharedMemory;
using KvTier.Transport.Messages;

namespace KvTier.Client;

/// <summary>
/// A mapping of a node's shared arena file, checked against what the node said over its authenticated connection (the
/// header names the same run and arena length): read-only, or read-write where the node allows writes and this process
/// may open the file for writing (stores then fill their reservations through it). Loads and stores hold a reference
/// while they copy; a mapping replaced after the node restarted is unmapped when its last user ends.
/// </summary>
internal sealed unsafe class SharedArenaMapping
{
    private readonly MemoryMappedFile file;
    private readonly MemoryMappedViewAccessor view;
    private readonly byte* start;
    private int references = 1;

    private SharedArenaMapping(MemoryMappedFile file, MemoryMappedViewAccessor view, byte* start, MapArenaAnswer answer, Guid? peer, bool writable)
    {
        this.file = file;
        this.view = view;
        this.start = start;
        Answer = answer;
        Peer = peer;
        Writable = writable;
    }

    /// <summary>Whether reservations can be filled through this mapping.</summary>
    public bool Writable { get; }

    /// <summary>What the node said: path, run, arena length.</summary>
    public MapArenaAnswer Answer { get; }

    /// <summary>The node run of the connection that asked (leases on a connection to another run are not for this arena).</summary>
    public Guid? Peer { get; }

    /// <summary>Maps the file the node named (for writing too where the node allows it and this process may; otherwise
    /// read-only) and checks its header.</summary>
    /// <exception cref="IOException">It cannot be opened or mapped here, or it is not the node's arena; the message says why.</exception>
    public static SharedArenaMapping Open(MapArenaAnswer answer, Guid? peer)
    {
        if (answer.Writable)
        {
            try
            {
                return Open(answer, peer, MemoryMappedFileAccess.ReadWrite);
            }
            catch (IOException error) when (error.InnerException is UnauthorizedAccessException)
            {
                // Not in the file's writing group: loads through the mapping, stores over the network.
            }
        }

        return Open(answer, peer, MemoryMappedFileAccess.Read);
    }

    private static SharedArenaMapping Open(MapArenaAnswer answer, Guid? peer, MemoryMappedFileAccess access)
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

            file = MemoryMappedFile.CreateFromFile(answer.Path, FileMode.Open, null, 0, access);
            view = file.CreateViewAccessor(0, needed, access);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointer += view.PointerOffset;
            var problem = SharedArenaHeader.Check(new ReadOnlySpan<byte>(pointer, SharedArenaHeader.Size), answer.Instance, answer.ArenaLength);
            if (problem is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                throw new IOException(problem);
            }

            return new SharedArenaMapping(file, view, pointer, answer, peer, access == MemoryMappedFileAccess.ReadWrite);
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
        var inside = TryWindow(offset, length, out var window);
        bytes = window;
        return inside;
    }

    /// <summary>The <paramref name="length"/> bytes at <paramref name="offset"/> of the arena, to fill a reservation; false
    /// when the mapping is read-only or the extent lies outside the arena.</summary>
    public bool TrySliceForWriting(ulong offset, int length, out Span<byte> bytes)
    {
        bytes = default;
        return Writable && TryWindow(offset, length, out bytes);
    }

    private bool TryWindow(ulong offset, int length, out Span<byte> bytes)
    {
        if (length < 0 || offset > (ulong)Answer.ArenaLength || (ulong)length > (ulong)Answer.ArenaLength - offset)
        {
            bytes = default;
            return false;
        }

        bytes = new Span<byte>(start + Answer.FileOffset + (long)offset, length);
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
