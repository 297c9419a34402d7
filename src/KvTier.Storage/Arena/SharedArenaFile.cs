using Microsoft.Extensions.Logging;

namespace KvTier.Storage.Arena;

/// <summary>
/// The file a shared host arena lives in: <c>kvtier-arena-{node}-{instance}.shm</c> in a memory file system. Its name
/// carries the node instance, so a restarted node never truncates a file a client still maps (which would turn that
/// client's next read into SIGBUS); it creates a new file and removes the old one's name instead.
/// </summary>
public sealed class SharedArenaFile : IDisposable
{
    private int removed;

    private SharedArenaFile(string path, Guid instance, bool groupWrites)
    {
        Path = path;
        Instance = instance;
        GroupWrites = groupWrites;
    }

    /// <summary>Whether the file's group may write it (mode 0660; otherwise 0640).</summary>
    public bool GroupWrites { get; }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>The node instance named in the file's header.</summary>
    public Guid Instance { get; }

    /// <summary>Creates the file with room for the header and <paramref name="arenaLength"/> bytes, every page
    /// allocated (so a full file system fails here), for the owner and the group only: the group reads it, and with
    /// <paramref name="groupWrites"/> writes it too.</summary>
    /// <exception cref="IOException">It cannot be created or allocated.</exception>
    internal static SharedArenaFile Create(string directory, string nodeId, Guid instance, long arenaLength, bool groupWrites, ILogger logger)
    {
        if (!Directory.Exists(directory))
        {
            throw new IOException($"The shared-memory directory {directory} does not exist (SharedMemory:Directory; /dev/shm or a memory volume).");
        }

        var prefix = $"kvtier-arena-{Sanitize(nodeId)}-";
        foreach (var stale in Directory.EnumerateFiles(directory, prefix + "*.shm"))
        {
            // An earlier run of this node: its clients keep their mapping until they notice the new instance.
            File.Delete(stale);
            logger.LogInformation("Shared host arena: removed {Path}, left by an earlier run of this node.", stale);
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("A shared host arena needs a Unix memory file system.");
        }

        var path = System.IO.Path.Combine(directory, $"{prefix}{instance:N}.shm");
        var total = Core.SharedMemory.SharedArenaHeader.ArenaOffset + arenaLength;
        try
        {
            using var stream = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.ReadWrite,
                PreallocationSize = total,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead,
            });
            stream.SetLength(total);
            if (groupWrites)
            {
                // Set after creation: the create mode passes through the process umask, which usually drops group write.
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            TryDelete(path);
            throw new IOException($"Cannot create the {total}-byte shared arena file {path}: {error.Message} " +
                "(is the memory file system large enough? /dev/shm is usually half the machine's memory)", error);
        }

        return new SharedArenaFile(path, instance, groupWrites);
    }

    /// <summary>Removes the file's name; mappings stay valid until they are unmapped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref removed, 1) == 0)
        {
            TryDelete(Path);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // Nothing else to do; the next start of this node removes it.
        }
    }

    private static string Sanitize(string nodeId) =>
        string.Concat(nodeId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
