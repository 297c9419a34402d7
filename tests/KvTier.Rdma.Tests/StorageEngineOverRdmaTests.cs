using System.Runtime.InteropServices;
using KvTier.Core;
using KvTier.Storage;

namespace KvTier.Rdma.Tests;

/// <summary>The transport against a real storage engine's arena, as a node serves it: a block stored by RDMA WRITEs
/// into its reserved extents and committed (the engine checks the checksums), then read back by RDMA READs of its
/// leased extents; a chunk corrupted in the arena afterwards is caught by the reader's checksum, never used.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class StorageEngineOverRdmaTests
{
    private const int Chunks = 6;
    private const int ChunkBytes = 24 << 10;

    [Fact]
    public async Task A_block_written_into_reserved_extents_commits_and_reads_back_verified_and_corruption_is_caught()
    {
        using var fake = TestShim.UseFakeDevice();
        using var engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = 8L << 20, TryHugeTlb = false, TryLockMemory = false });
        using var context = RdmaContext.Open();
        using var server = new RdmaArenaServer(context, engine.ArenaAddress, (ulong)engine.ArenaLength);
        var local = GC.AllocateArray<byte>(2 * Chunks * ChunkBytes, pinned: true);
        using var region = context.RegisterMemory(Marshal.UnsafeAddrOfPinnedArrayElement(local, 0), (ulong)local.Length, RdmaAccess.LocalWrite);
        using var reader = new RdmaExtentReader(context, RdmaDestination.Host(region), (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint)));
        var token = TestContext.Current.CancellationToken;
        var id = new BlockId(new NamespaceId(0x77), new BlockKey(1, 2));
        new Random(9).NextBytes(local.AsSpan(0, Chunks * ChunkBytes));
        var chunks = Enumerable.Range(0, Chunks).Select(c => ChunkInfo.Of(local.AsSpan(c * ChunkBytes, ChunkBytes))).ToArray();
        var statuses = new RdmaTransferStatus[Chunks];

        var reservation = engine.Reserve(id, chunks, TimeSpan.FromSeconds(30));
        Assert.Equal(ReserveStatus.Reserved, reservation.Status);
        var writes = Enumerable.Range(0, Chunks)
            .Select(c => new RdmaExtentTransfer((ulong)(reservation.DataOffset + (c * ChunkBytes)), ChunkBytes, (ulong)(c * ChunkBytes), 0))
            .ToArray();
        var written = await reader.WriteAsync(writes, statuses, token);
        var committed = engine.Commit(reservation);

        Assert.Equal(Chunks, written.Succeeded);
        Assert.Equal(CommitStatus.Committed, committed.Status);

        var extents = new ChunkExtent[Chunks];
        var lease = engine.Read(id, 0, Chunks, TimeSpan.FromSeconds(30), extents);
        Assert.Equal(ReadStatus.Hit, lease.Status);
        var reads = extents.Select((e, c) => new RdmaExtentTransfer((ulong)e.ArenaOffset, (uint)e.Length, (ulong)((Chunks + c) * ChunkBytes), e.Checksum))
            .ToArray();
        var read = await reader.ReadAsync(reads, statuses, token);

        Assert.Equal(Chunks, read.Succeeded);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Verified, s));
        Assert.Equal(local.AsSpan(0, Chunks * ChunkBytes).ToArray(), local.AsSpan(Chunks * ChunkBytes, Chunks * ChunkBytes).ToArray());

        Marshal.WriteByte(engine.ArenaAddress + (nint)extents[3].ArenaOffset + 100,
            (byte)~Marshal.ReadByte(engine.ArenaAddress + (nint)extents[3].ArenaOffset + 100));
        var corrupt = await reader.ReadAsync(reads, statuses, token);

        Assert.Equal(RdmaTransferStatus.ChecksumMismatch, statuses[3]);
        Assert.Equal(Chunks - 1, corrupt.Succeeded);
        Assert.True(engine.ReleaseLease(lease.LeaseId));
    }
}
