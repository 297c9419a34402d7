using KvTier.Core.SharedMemory;
using KvTier.Storage.Arena;

namespace KvTier.Storage.Tests;

/// <summary>The host arena shared through a file: header, sizing, a restarted node's new file, and removal.</summary>
public sealed class SharedArenaTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("kvtier-arena-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public unsafe void The_file_holds_a_header_naming_the_run_then_the_arena_whose_bytes_the_node_writes()
    {
        var instance = Guid.NewGuid();
        using var arena = HostArena.CreateShared(directory, "node-1", instance, 3 << 20, tryLock: false);
        arena.Slice(5000, 4).Fill(0xAB);

        var file = File.ReadAllBytes(arena.Shared!.Path);
        Assert.Equal(4L << 20, arena.Length); // rounded up to 2 MiB
        Assert.Equal(SharedArenaHeader.ArenaOffset + arena.Length, file.Length);
        Assert.Null(SharedArenaHeader.Check(file, instance, arena.Length));
        Assert.Contains("not", SharedArenaHeader.Check(file, Guid.NewGuid(), arena.Length), StringComparison.Ordinal);
        Assert.Equal(new byte[] { 0xAB, 0xAB, 0xAB, 0xAB }, file.AsSpan((int)SharedArenaHeader.ArenaOffset + 5000, 4).ToArray());
    }

    [Fact]
    public void A_restarted_node_makes_a_new_file_and_removes_the_old_ones_name_and_its_own_on_dispose()
    {
        var first = HostArena.CreateShared(directory, "node-1", Guid.NewGuid(), 2 << 20, tryLock: false);
        using var other = HostArena.CreateShared(directory, "node-2", Guid.NewGuid(), 2 << 20, tryLock: false);
        var firstPath = first.Shared!.Path;

        // A crashed run never removed its file; the next run of the same node does, and leaves other nodes' files alone.
        using (var second = HostArena.CreateShared(directory, "node-1", Guid.NewGuid(), 2 << 20, tryLock: false))
        {
            Assert.False(File.Exists(firstPath));
            Assert.True(File.Exists(other.Shared!.Path));
            Assert.NotEqual(firstPath, second.Shared!.Path);
            first.Dispose(); // the old run's mapping stays usable until it is unmapped; disposing it touches nothing new
            Assert.True(File.Exists(second.Shared.Path));
        }

        Assert.Equal([other.Shared.Path], Directory.GetFiles(directory));
    }

    [Fact]
    public void A_missing_directory_fails_at_start_with_the_setting_named()
    {
        var error = Assert.Throws<IOException>(() => HostArena.CreateShared(Path.Combine(directory, "absent"), "n", Guid.NewGuid(), 2 << 20, tryLock: false));

        Assert.Contains("SharedMemory:Directory", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_engine_shares_its_arena_only_when_told_to()
    {
        using var shared = StorageEngine.Open(new StorageOptions { HostArenaBytes = 2 << 20, TryLockMemory = false, SharedMemoryDirectory = directory });
        using var private_ = StorageEngine.Open(new StorageOptions { HostArenaBytes = 2 << 20, TryLockMemory = false, TryHugeTlb = false });

        Assert.True(File.Exists(shared.SharedArena!.Path));
        Assert.Null(private_.SharedArena);
    }
}
