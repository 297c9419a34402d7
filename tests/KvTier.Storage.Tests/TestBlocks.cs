using System.Buffers.Binary;
using KvTier.Core;

namespace KvTier.Storage.Tests;

/// <summary>Deterministic blocks whose bytes follow from their key, so any reader can check what it got.</summary>
internal static class TestBlocks
{
    public static readonly NamespaceId Namespace = new(0x5EED_0000_0000_0001);

    public static BlockId Id(ulong number, NamespaceId? ns = null) => new(ns ?? Namespace, new BlockKey(number * 0x9E3779B97F4A7C15UL, ~number));

    /// <summary>The chunks of block <paramref name="id"/>: <paramref name="chunkCount"/> chunks of about <paramref name="chunkBytes"/>.</summary>
    public static byte[][] Chunks(in BlockId id, int chunkCount, int chunkBytes)
    {
        var random = new Random((int)(id.Key.Low ^ (id.Key.Low >> 32)));
        var chunks = new byte[chunkCount][];
        for (var index = 0; index < chunkCount; index++)
        {
            chunks[index] = new byte[chunkBytes + (index % 3 * 8)];
            random.NextBytes(chunks[index]);
            BinaryPrimitives.WriteInt32LittleEndian(chunks[index], index);
        }

        return chunks;
    }

    public static ChunkInfo[] Describe(byte[][] chunks) => [.. chunks.Select(chunk => ChunkInfo.Of(chunk))];

    /// <summary>Reserve, copy, commit; returns what commit said (or the reserve status when nothing was reserved).</summary>
    public static (ReserveStatus Reserve, CommitResult Commit) Put(IBlockStore store, in BlockId id, byte[][] chunks, TimeSpan? timeout = null)
    {
        var reservation = store.Reserve(id, Describe(chunks), timeout ?? TimeSpan.FromSeconds(30));
        if (reservation.Status != ReserveStatus.Reserved)
        {
            return (reservation.Status, default);
        }

        var destination = store.ReservedBytes(reservation);
        var position = 0;
        foreach (var chunk in chunks)
        {
            chunk.CopyTo(destination[position..]);
            position += chunk.Length;
        }

        return (reservation.Status, store.Commit(reservation));
    }

    /// <summary>Reads every chunk under a lease, copies the bytes out, releases the lease.</summary>
    public static (ReadStatus Status, byte[][] Chunks) Get(IBlockStore store, in BlockId id, int firstChunk = 0, int chunkCount = -1)
    {
        var extents = new ChunkExtent[BlockTableLimit];
        var result = store.Read(id, firstChunk, chunkCount, TimeSpan.FromSeconds(30), extents);
        if (result.Status != ReadStatus.Hit)
        {
            return (result.Status, []);
        }

        var count = chunkCount == -1 ? result.ChunkCount - firstChunk : chunkCount;
        var copies = new byte[count][];
        for (var index = 0; index < count; index++)
        {
            copies[index] = store.ExtentBytes(extents[index]).ToArray();
            Assert.Equal(extents[index].Checksum, ChunkInfo.ChecksumOf(copies[index]));
        }

        Assert.True(store.ReleaseLease(result.LeaseId));
        return (result.Status, copies);
    }

    public static void AssertSame(byte[][] expected, byte[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var index = 0; index < expected.Length; index++)
        {
            Assert.True(expected[index].AsSpan().SequenceEqual(actual[index]), $"chunk {index} differs");
        }
    }

    private const int BlockTableLimit = 1024;
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long ticks = 1_000_000;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
}

/// <summary>A temporary directory deleted after the test.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kvtier-storage-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind is harmless.
        }
    }
}

/// <summary>Records observer callbacks.</summary>
internal sealed class RecordingObserver : IStorageObserver
{
    public List<string> Events { get; } = [];

    public void OnCommitted(in BlockId id, int bytes)
    {
        lock (Events)
        {
            Events.Add($"committed {id}");
        }
    }

    public void OnRemoved(in BlockId id, RemovalReason reason)
    {
        lock (Events)
        {
            Events.Add($"removed {id} {reason}");
        }
    }

    public void OnTierChanged(in BlockId id, StorageTier tier)
    {
        lock (Events)
        {
            Events.Add($"tier {id} {tier}");
        }
    }

    public int Count(string prefix)
    {
        lock (Events)
        {
            return Events.Count(line => line.StartsWith(prefix, StringComparison.Ordinal));
        }
    }
}
