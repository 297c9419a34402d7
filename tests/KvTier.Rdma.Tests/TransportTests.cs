namespace KvTier.Rdma.Tests;

/// <summary>The RDMA transport's node and client parts against the fake device, which enforces keys, ranges and
/// access like a NIC: batched verified reads, writes into the arena, checksum and range failures per transfer,
/// error completions, reconnects and the transport choice.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class TransportTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Leased_extents_are_read_in_batches_and_each_chunk_is_verified()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair(new RdmaReaderOptions { QueueDepth = 32, BatchSize = 8 });
        var transfers = pair.Extents([.. Enumerable.Range(0, 100).Select(i => 512 + (i * 37))]);
        var statuses = new RdmaTransferStatus[transfers.Length];
        await pair.Reader.ConnectAsync(Token);
        var doorbells = TestShim.Doorbells();

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal(new RdmaTransferSummary(100, 0, 0, null), summary);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Verified, s));
        Assert.All(transfers, t => Assert.True(pair.Landed(t), $"extent at {t.RemoteOffset} did not land at {t.LocalOffset}"));
        Assert.Equal(doorbells + 13, TestShim.Doorbells()); // 100 reads in batches of 8: 13 posts
        Assert.Equal(1, pair.Server.ConnectionCount);
    }

    [Fact]
    public async Task A_chunk_that_does_not_match_its_checksum_is_refused_and_the_others_verify()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair();
        var transfers = pair.Extents(4096, 4096, 4096);
        transfers[1] = transfers[1] with { Checksum = transfers[1].Checksum ^ 1 };
        var statuses = new RdmaTransferStatus[3];

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal([RdmaTransferStatus.Verified, RdmaTransferStatus.ChecksumMismatch, RdmaTransferStatus.Verified], statuses);
        Assert.Equal(1, summary.Failed);
        Assert.Contains("does not match its checksum", summary.FirstFailure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Extents_outside_the_arena_or_the_local_region_are_refused_without_posting()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair();
        var transfers = pair.Extents(4096, 4096, 4096);
        transfers[0] = transfers[0] with { RemoteOffset = TransportPair.ArenaBytes - 100 };
        transfers[2] = transfers[2] with { LocalOffset = TransportPair.LocalBytes - 10 };
        var statuses = new RdmaTransferStatus[3];
        await pair.Reader.ConnectAsync(Token);
        var requests = TestShim.WorkRequests();

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal([RdmaTransferStatus.OutOfRange, RdmaTransferStatus.Verified, RdmaTransferStatus.OutOfRange], statuses);
        Assert.Equal(requests + 1, TestShim.WorkRequests());
        Assert.Contains($"outside the node's {TransportPair.ArenaBytes}-byte arena", summary.FirstFailure, StringComparison.Ordinal);
        Assert.Equal(0, summary.Reconnects);
    }

    [Fact]
    public async Task A_remote_access_error_fails_only_its_block_and_the_flushed_rest_is_read_after_a_reconnect()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair(new RdmaReaderOptions { QueueDepth = 16, BatchSize = 4 });
        // The node claims twice its arena, so an extent beyond the registered region passes the reader's check and
        // reaches the NIC, which refuses it: the queue pair goes to error and everything after it is flushed.
        pair.Lie = answer => answer with { Length = answer.Length * 2 };
        var transfers = pair.Extents([.. Enumerable.Repeat(2048, 20)]);
        transfers[7] = transfers[7] with { RemoteOffset = TransportPair.ArenaBytes + 4096 };
        var statuses = new RdmaTransferStatus[20];

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal(RdmaTransferStatus.RemoteAccess, statuses[7]);
        Assert.All(statuses.Where((_, i) => i != 7), s => Assert.Equal(RdmaTransferStatus.Verified, s));
        Assert.All(transfers.Where((_, i) => i != 7), t => Assert.True(pair.Landed(t)));
        Assert.Equal(1, summary.Reconnects);
        Assert.Equal(2, pair.Exchanges);
        Assert.Equal(1, pair.Server.ConnectionCount); // the node replaced the failed queue pair
        Assert.True(pair.Reader.IsConnected);
        Assert.Contains("refused access", summary.FirstFailure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_node_drops_the_queue_pair_the_reader_reconnects_and_every_read_succeeds()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair(new RdmaReaderOptions { QueueDepth = 16, BatchSize = 4 });
        var transfers = pair.Extents([.. Enumerable.Repeat(2048, 12)]);
        var statuses = new RdmaTransferStatus[12];
        await pair.Reader.ConnectAsync(Token);

        var dropped = pair.Server.DisconnectAll();
        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal(1, dropped);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Verified, s));
        Assert.All(transfers, t => Assert.True(pair.Landed(t)));
        Assert.Equal(new RdmaTransferSummary(12, 0, 1, summary.FirstFailure), summary);
        Assert.Contains("stopped answering", summary.FirstFailure, StringComparison.Ordinal);
        Assert.Equal(2, pair.Exchanges);
        Assert.Equal(1, pair.Server.ConnectionCount);
    }

    [Fact]
    public async Task A_node_that_keeps_refusing_fails_the_transfers_after_the_allowed_reconnects()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair(new RdmaReaderOptions { MaxReconnects = 1 });
        pair.Lie = answer => answer with { RemoteKey = answer.RemoteKey + 1000 };
        var transfers = pair.Extents(4096, 4096, 4096);
        var statuses = new RdmaTransferStatus[3];

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        // Round 1: 0 refused, 1 and 2 flushed; round 2 after one reconnect: 1 refused, 2 flushed and given up.
        Assert.Equal([RdmaTransferStatus.RemoteAccess, RdmaTransferStatus.RemoteAccess, RdmaTransferStatus.Failed], statuses);
        Assert.Equal(new RdmaTransferSummary(0, 3, 1, summary.FirstFailure), summary);
        Assert.False(pair.Reader.IsConnected);

        pair.Lie = null;
        var again = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal(3, again.Succeeded);
        Assert.True(pair.Reader.IsConnected);
    }

    [Fact]
    public async Task Writes_put_the_local_bytes_into_the_arena_extents()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair();
        new Random(3).NextBytes(pair.Local[..(3 * 8192)]);
        var transfers = new[]
        {
            new RdmaExtentTransfer(65536, 8192, 0, 0),
            new RdmaExtentTransfer(4096, 8192, 8192, 0),
            new RdmaExtentTransfer(900_000, 8192, 16384, 0),
        };
        var statuses = new RdmaTransferStatus[3];

        var summary = await pair.Reader.WriteAsync(transfers, statuses, Token);

        Assert.Equal(3, summary.Succeeded);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Delivered, s));
        Assert.All(transfers, t => Assert.True(pair.Landed(t)));
    }

    [Fact]
    public async Task Reads_into_device_memory_are_delivered_unverified()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair(kind: RdmaMemoryKind.Device);
        var transfers = pair.Extents(4096, 1000);
        var statuses = new RdmaTransferStatus[2];

        var summary = await pair.Reader.ReadAsync(transfers, statuses, Token);

        Assert.Equal(2, summary.Succeeded);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Delivered, s));
        Assert.All(transfers, t => Assert.True(pair.Landed(t)));
    }

    [Fact]
    public async Task Too_few_statuses_are_refused_with_both_counts()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair();

        var exception = await Assert.ThrowsAsync<ArgumentException>(() =>
            pair.Reader.ReadAsync(pair.Extents(64, 64, 64), new RdmaTransferStatus[2], Token));

        Assert.Contains("2 statuses cannot report 3 transfers", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_arena_server_refuses_clients_beyond_its_limit_and_forgets_disconnected_ones()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new TransportPair();
        using var server = new RdmaArenaServer(pair.Context, pair.LocalAddress, 4096, new RdmaArenaServerOptions { MaxConnections = 1 });
        using var queue = pair.Context.CreateCompletionQueue(8);
        using var first = pair.Context.CreateQueuePair(queue, 4);
        using var second = pair.Context.CreateQueuePair(queue, 4);

        var arena = server.Accept(first.LocalEndpoint);
        var refused = Assert.Throws<RdmaException>(() => server.Accept(second.LocalEndpoint));
        Assert.True(server.Disconnect(first.LocalEndpoint));
        server.Accept(second.LocalEndpoint);

        Assert.Equal(server.Arena.RemoteKey, arena.RemoteKey);
        Assert.Equal(4096UL, arena.Length);
        Assert.Contains("already serves 1 RDMA connections", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Theory]
    [InlineData(0u, 1, "QueueDepth must be 1..65536, not 0")]
    [InlineData(16u, 17, "BatchSize must be 1..QueueDepth (16), not 17")]
    public void Bad_reader_options_are_named(uint depth, int batch, string message)
    {
        var exception = Assert.Throws<ArgumentException>(() =>
            new RdmaReaderOptions { QueueDepth = depth, BatchSize = batch }.Validate());

        Assert.Contains(message, exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rdma_is_chosen_only_when_both_ends_have_it()
    {
        var available = new RdmaCapabilityReport(RdmaAvailability.Available, "RDMA available: mlx5_0", []);
        var missing = new RdmaCapabilityReport(RdmaAvailability.NoDevice, "no RDMA device: libibverbs found none", []);

        Assert.Equal(DataPlaneTransport.Rdma, DataPlaneTransportChoice.Choose(available, true, null).Transport);
        var noLocal = DataPlaneTransportChoice.Choose(missing, true, null);
        var noNode = DataPlaneTransportChoice.Choose(available, false, "no RDMA device on the node");
        var off = DataPlaneTransportChoice.Choose(available, true, null, enabled: false);

        Assert.Equal(DataPlaneTransport.Tcp, noLocal.Transport);
        Assert.Contains("libibverbs found none", noLocal.Reason, StringComparison.Ordinal);
        Assert.Equal(DataPlaneTransport.Tcp, noNode.Transport);
        Assert.Contains("no RDMA device on the node", noNode.Reason, StringComparison.Ordinal);
        Assert.Equal(DataPlaneTransport.Tcp, off.Transport);
    }
}
