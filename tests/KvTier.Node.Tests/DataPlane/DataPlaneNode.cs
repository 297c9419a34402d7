using System.IO.Hashing;
using System.Net;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Node.Configuration;
using KvTier.Node.DataPlane;
using KvTier.Node.Hosting;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Messages;
using KvTier.Transport.Tcp;
using Microsoft.Extensions.Logging.Abstractions;
using WireExtent = KvTier.Transport.ChunkExtent;

namespace KvTier.Node.Tests.DataPlane;

/// <summary>A real storage engine behind the real handler and FrameServer on loopback, and a connection to it.</summary>
internal sealed class DataPlaneNode : IAsyncDisposable
{
    private DataPlaneNode(StorageEngine engine, BlockStoreFrameHandler handler, FrameServer server, FrameConnection connection,
        BlockAnchorBook anchors)
    {
        Anchors = anchors;
        Engine = engine;
        Handler = handler;
        Server = server;
        Connection = connection;
    }

    public static KvNamespace Namespace { get; } =
        new("tiny", "main", ModelPresets.Tiny.ToLayout(KvDataType.BFloat16, 16), "tests", BlockHashAlgorithm.Xxh3, "none", 1000);

    public StorageEngine Engine { get; }

    /// <summary>Where the handler records each reserved block's directory anchor.</summary>
    public BlockAnchorBook Anchors { get; }

    public BlockStoreFrameHandler Handler { get; }

    public FrameServer Server { get; }

    public FrameConnection Connection { get; }

    public static async Task<DataPlaneNode> StartAsync()
    {
        var engine = StorageEngine.Open(new StorageOptions { HostArenaBytes = 16L << 20, TryHugeTlb = false, TryLockMemory = false });
        var registry = new NamespaceRegistry();
        registry.Register(Namespace);
        var anchors = new BlockAnchorBook();
        var handler = new BlockStoreFrameHandler(engine, registry, new NodeOptions(), NullLogger.Instance, anchorBook: anchors);
        var server = new FrameServer(new IPEndPoint(IPAddress.Loopback, 0), handler, handler.Limits, NullLogger.Instance);
        server.Start();
        var connection = await FrameConnection.ConnectAsync(server.LocalEndPoint, FrameLimits.Default, CancellationToken.None);
        return new DataPlaneNode(engine, handler, server, connection, anchors);
    }

    /// <summary>The anchor the tests declare for a block: distinct from its key, so a mix-up shows.</summary>
    public static BlockKey AnchorOf(BlockKey key) => new(key.High ^ 0xA5A5, key.Low);

    public async Task<(FrameHeader Header, byte[] Body)> SendAsync(Opcode opcode, byte[] body, FrameConnection? connection = null)
    {
        using var sink = new BufferedResponseSink();
        var header = await (connection ?? Connection).SendAsync(opcode, body, sink, TestContext.Current.CancellationToken);
        return (header, sink.Body.ToArray());
    }

    public async Task<(FrameHeader Header, BlockExtents[] Blocks, WireExtent[] Extents)> ReserveAsync(NamespaceId ns, BlockKey key,
        params byte[][] chunks)
    {
        var declarations = chunks.Select(c => new ChunkDeclaration(c.Length, XxHash3.HashToUInt64(c))).ToArray();
        var body = new byte[ReserveBlocksRequest.MeasureBody(1, chunks.Length)];
        ReserveBlocksRequest.Write(body, ns, 5000, [new BlockToReserve(key, AnchorOf(key), 0, chunks.Length)], declarations);
        var (header, response) = await SendAsync(Opcode.ReserveBlocks, body);
        if (header.Status != FrameStatus.Ok)
        {
            return (header, [], []);
        }

        var blocks = new BlockExtents[1];
        var extents = new WireExtent[chunks.Length];
        BlockExtentsResponse.Read(response, FrameLimits.Default, 1, blocks, extents, out _);
        return (header, blocks, extents);
    }

    public async Task<FrameStatus[]> WriteAsync(ExtentIo[] items, byte[][] payloads)
    {
        var body = new byte[ExtentIoRequest.MeasureHead(items.Length) + payloads.Sum(p => p.Length)];
        var writer = new BodyWriter(body);
        ExtentIoRequest.WriteHead(ref writer, items);
        foreach (var payload in payloads)
        {
            writer.WriteBytes(payload);
        }

        return Statuses(await SendAsync(Opcode.WriteExtents, body), items.Length);
    }

    public async Task<FrameStatus[]> HandlesAsync(Opcode opcode, params ulong[] handles)
    {
        var body = new byte[HandleBatch.MeasureBody(handles.Length)];
        HandleBatch.Write(body, handles);
        return Statuses(await SendAsync(opcode, body), handles.Length);
    }

    /// <summary>Stores a block through the data plane (reserve, write, commit) and returns its chunks.</summary>
    public async Task<byte[][]> PutAsync(BlockKey key, int seed)
    {
        var chunkBytes = Namespace.Layout.BytesPerLayerChunk;
        var random = new Random(seed);
        var chunks = Enumerable.Range(0, Namespace.Layout.Layers).Select(_ =>
        {
            var chunk = new byte[chunkBytes];
            random.NextBytes(chunk);
            return chunk;
        }).ToArray();
        var (_, blocks, extents) = await ReserveAsync(Namespace.Id, key, chunks);
        var items = extents.Select(e => new ExtentIo(blocks[0].Handle, e.Offset, e.Length)).ToArray();
        Assert.All(await WriteAsync(items, chunks), s => Assert.Equal(FrameStatus.Ok, s));
        Assert.Equal([FrameStatus.Ok], await HandlesAsync(Opcode.CommitBlocks, blocks[0].Handle));
        return chunks;
    }

    public async Task<(FrameHeader Header, BlockExtents[] Blocks, WireExtent[] Extents)> LeaseAsync(NamespaceId ns, params BlockKey[] keys)
    {
        var body = new byte[LeaseBlocksRequest.MeasureBody(keys.Length)];
        LeaseBlocksRequest.Write(body, ns, 0, 0, 5000, keys);
        var (header, response) = await SendAsync(Opcode.LeaseBlocks, body);
        if (header.Status != FrameStatus.Ok)
        {
            return (header, [], []);
        }

        var blocks = new BlockExtents[keys.Length];
        var extents = new WireExtent[keys.Length * Namespace.Layout.Layers];
        var count = 0;
        BlockExtentsResponse.Read(response, FrameLimits.Default, keys.Length, blocks, extents, out count);
        return (header, blocks, extents[..count]);
    }

    /// <summary>Reads extents; returns the per-item statuses and the bytes of the Ok items, in order.</summary>
    public async Task<(FrameStatus[] Statuses, byte[] Bytes)> ReadAsync(params ExtentIo[] items)
    {
        var body = new byte[ExtentIoRequest.MeasureHead(items.Length)];
        var writer = new BodyWriter(body);
        ExtentIoRequest.WriteHead(ref writer, items);
        var (header, response) = await SendAsync(Opcode.ReadExtents, body);
        Assert.Equal(FrameStatus.Ok, header.Status);
        var statuses = new FrameStatus[items.Length];
        var reader = new BodyReader(response);
        StatusBatch.Read(ref reader, items.Length, statuses);
        return (statuses, response[StatusBatch.MeasureBody(items.Length)..]);
    }

    /// <summary>ReadBlocks: the header, then (when Ok) the per-block statuses, chunk descriptions and the chunk bytes.</summary>
    public async Task<(FrameHeader Header, FrameStatus[] Statuses, ChunkDeclaration[] Chunks, byte[] Bytes)> ReadBlocksAsync(NamespaceId ns,
        int firstLayer, int layerCount, params BlockKey[] keys)
    {
        var body = new byte[ReadBlocksRequest.MeasureBody(keys.Length)];
        ReadBlocksRequest.Write(body, ns, firstLayer, layerCount, keys);
        var (header, response) = await SendAsync(Opcode.ReadBlocks, body);
        if (header.Status != FrameStatus.Ok)
        {
            return (header, [], [], response);
        }

        var statuses = new FrameStatus[keys.Length];
        var chunks = new ChunkDeclaration[keys.Length * layerCount];
        var head = ReadBlocksResponse.MeasureHead(keys.Length, layerCount);
        var payload = ReadBlocksResponse.ReadHead(response.AsSpan(0, head), FrameLimits.Default, keys.Length, layerCount, statuses, chunks);
        Assert.Equal(head + payload, response.Length);
        return (header, statuses, chunks, response[head..]);
    }

    /// <summary>ReadBlocksSplit: the header, then (when Ok) the statuses, chunk descriptions, each chunk's first
    /// <paramref name="headBytes"/> bytes as the head carries them, and the payload bytes after the head.</summary>
    public async Task<(FrameHeader Header, FrameStatus[] Statuses, ChunkDeclaration[] Chunks, byte[][] Heads, byte[] Payloads)> ReadBlocksSplitAsync(
        NamespaceId ns, int firstLayer, int layerCount, int headBytes, params BlockKey[] keys)
    {
        var body = new byte[ReadBlocksRequest.MeasureSplitBody(keys.Length)];
        ReadBlocksRequest.WriteSplit(body, ns, firstLayer, layerCount, headBytes, keys);
        var (header, response) = await SendAsync(Opcode.ReadBlocksSplit, body);
        if (header.Status != FrameStatus.Ok)
        {
            return (header, [], [], [], response);
        }

        var statuses = new FrameStatus[keys.Length];
        var chunks = new ChunkDeclaration[keys.Length * layerCount];
        var head = ReadBlocksResponse.MeasureSplitHead(keys.Length, layerCount, headBytes);
        var payload = ReadBlocksResponse.ReadSplitHead(response.AsSpan(0, head), FrameLimits.Default, keys.Length, layerCount, headBytes, statuses, chunks);
        Assert.Equal(head + payload, response.Length);
        var heads = Enumerable.Range(0, chunks.Length)
            .Select(c => ReadBlocksResponse.SplitChunkHead((ReadOnlySpan<byte>)response.AsSpan(0, head), keys.Length, headBytes, c).ToArray())
            .ToArray();
        return (header, statuses, chunks, heads, response[head..]);
    }

    public static BlockKey Key(int value) => new((ulong)value, 0xabcdef);

    public async ValueTask DisposeAsync()
    {
        await Connection.DisposeAsync();
        await Server.DisposeAsync();
        Engine.Dispose();
    }

    private static FrameStatus[] Statuses((FrameHeader Header, byte[] Body) response, int count)
    {
        Assert.Equal(FrameStatus.Ok, response.Header.Status);
        var statuses = new FrameStatus[count];
        var reader = new BodyReader(response.Body);
        StatusBatch.Read(ref reader, count, statuses);
        return statuses;
    }
}
