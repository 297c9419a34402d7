namespace KvTier.Rdma.Tests;

/// <summary>The binding's data path through the shim against the in-memory fake device.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class FakeDeviceDataPathTests
{
    private const int Block = 4096;

    [Fact]
    public void A_batch_of_writes_rings_one_doorbell_and_lands_every_block_where_it_was_aimed()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        const int count = 48;
        Random.Shared.NextBytes(pair.LocalSpan[..(count * Block)]);
        var operations = new RdmaOperation[count];
        for (var i = 0; i < count; i++)
        {
            operations[i] = pair.Operation((ulong)i, RdmaOpcode.Write, i * Block, (count - 1 - i) * Block, Block,
                RdmaOperationFlags.None);
        }

        var doorbells = TestShim.Doorbells();
        pair.A.Post(pair.Local, operations);

        Assert.Equal(doorbells + 1, TestShim.Doorbells());
        var completion = Assert.Single(pair.Drain(1));
        Assert.Equal((ulong)(count - 1), completion.RequestId); // only the batch's last op is signaled
        Assert.True(completion.Succeeded);
        for (var i = 0; i < count; i++)
        {
            Assert.True(pair.LocalSpan.Slice(i * Block, Block).SequenceEqual(pair.RemoteSpan.Slice((count - 1 - i) * Block, Block)),
                $"block {i} landed in the wrong place");
        }
    }

    [Fact]
    public void Signaled_reads_complete_in_order_with_their_ids_and_bring_the_remote_bytes()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        Random.Shared.NextBytes(pair.RemoteSpan);
        var operations = Enumerable.Range(0, 20)
            .Select(i => pair.Operation(0xABC0_0000UL + (ulong)i, RdmaOpcode.Read, i * Block, i * 5 * Block, Block))
            .ToArray();

        pair.A.Post(pair.Local, operations);
        var completions = pair.Drain(20);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(0xABC0_0000UL + (ulong)i, completions[i].RequestId);
            Assert.Equal(RdmaCompletionStatus.Success, completions[i].Status);
            Assert.Equal(RdmaOpcode.Read, completions[i].Opcode);
            Assert.Equal((uint)Block, completions[i].ByteLength);
            Assert.True(pair.LocalSpan.Slice(i * Block, Block).SequenceEqual(pair.RemoteSpan.Slice(i * 5 * Block, Block)));
        }
    }

    [Fact]
    public void A_bad_remote_key_fails_only_its_own_operation_flushes_the_rest_and_a_reconnect_recovers()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        Random.Shared.NextBytes(pair.RemoteSpan[..(8 * Block)]);
        var operations = Enumerable.Range(0, 6)
            .Select(i => pair.Operation((ulong)i, RdmaOpcode.Read, i * Block, i * Block, Block))
            .ToArray();
        operations[2].RemoteKey ^= 0x00F0_0F00;

        pair.A.Post(pair.Local, operations);
        var statuses = pair.Drain(6).Select(c => (c.RequestId, c.Status)).ToArray();

        Assert.Equal(
        [
            (0UL, RdmaCompletionStatus.Success), (1UL, RdmaCompletionStatus.Success),
            (2UL, RdmaCompletionStatus.RemoteAccess), (3UL, RdmaCompletionStatus.Flushed),
            (4UL, RdmaCompletionStatus.Flushed), (5UL, RdmaCompletionStatus.Flushed),
        ], statuses);

        pair.A.Reset();
        pair.B.Reset();
        pair.Connect();
        pair.LocalSpan[..Block].Clear();
        pair.A.Post(pair.Local, [operations[0]]);
        Assert.True(Assert.Single(pair.Drain(1)).Succeeded);
        Assert.True(pair.LocalSpan[..Block].SequenceEqual(pair.RemoteSpan[..Block]));
    }

    [Fact]
    public void A_remote_range_past_the_peer_region_is_a_remote_access_error()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();

        pair.A.Post(pair.Local, [pair.Operation(9, RdmaOpcode.Write, 0, FakePair.RegionBytes - 100, 200)]);

        Assert.Equal(RdmaCompletionStatus.RemoteAccess, Assert.Single(pair.Drain(1)).Status);
    }

    [Fact]
    public void A_local_range_outside_the_registered_region_is_refused_before_anything_is_posted()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        var inside = pair.Operation(1, RdmaOpcode.Read, 0, 0, Block);
        var outside = pair.Operation(2, RdmaOpcode.Read, FakePair.RegionBytes - 8, 0, 16);
        var doorbells = TestShim.Doorbells();

        var result = pair.A.TryPost(pair.Local, [inside, outside], out var posted);

        Assert.Equal(-34, result); // -ERANGE
        Assert.Equal(0, posted);
        Assert.Equal(doorbells, TestShim.Doorbells());
        Assert.Equal(0, pair.CompletionQueue.Poll(new RdmaCompletion[4]));
        var exception = Assert.Throws<RdmaException>(() => pair.A.Post(pair.Local, [outside]));
        Assert.Equal(34, exception.Errno);
        Assert.Contains("outside the registered region", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_full_send_queue_reports_how_many_operations_were_accepted()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        var operations = Enumerable.Range(0, 5)
            .Select(i => pair.Operation((ulong)i, RdmaOpcode.Read, i * Block, 0, Block))
            .ToArray();
        TestShim.RefuseNextPostAt(3);

        var result = pair.A.TryPost(pair.Local, operations, out var posted);

        Assert.Equal(-12, result); // -ENOMEM
        Assert.Equal(3, posted);
        Assert.Equal(3, pair.CompletionQueue.Poll(new RdmaCompletion[8]));
    }

    [Fact]
    public void A_completion_channel_wakes_its_waiter_and_times_out_when_idle()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair(withChannel: true);

        Assert.False(pair.Channel!.Wait(0));
        pair.A.Post(pair.Local, [pair.Operation(77, RdmaOpcode.Read, 0, 0, Block)]);

        Assert.True(pair.Channel.Wait(5000));
        Assert.Equal(77UL, Assert.Single(pair.Drain(1)).RequestId);
    }

    [Fact]
    public void Disposing_the_context_first_keeps_it_open_until_its_regions_and_queues_are_gone()
    {
        using var fake = TestShim.UseFakeDevice();
        var pair = new FakePair();
        pair.Context.Dispose();

        // Still open: its regions and queues hold references, so the children keep working.
        Assert.False(pair.Context.IsClosed);
        pair.A.Post(pair.Local, [pair.Operation(5, RdmaOpcode.Write, 0, 0, 64)]);
        Assert.Equal(5UL, Assert.Single(pair.Drain(1)).RequestId);

        pair.Dispose(); // the fake's dealloc_pd fails (and the release reports it) if a region were still registered
        Assert.True(pair.Context.IsClosed);
    }

    [Fact]
    public void The_auto_selected_gid_is_the_ipv4_mapped_roce_v2_entry()
    {
        using var fake = TestShim.UseFakeDevice();
        using var context = RdmaContext.Open();

        Assert.Equal(1u, context.Port.GidIndex);
        Assert.Equal(2u, context.Port.GidType);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1 }, context.Port.Gid);
        Assert.True(context.Port.IsActive);
        Assert.Equal(1024u, context.Port.ActiveMtu);
    }

    [Fact]
    public void Opening_an_unknown_device_names_it_in_the_error()
    {
        using var fake = TestShim.UseFakeDevice();

        var exception = Assert.Throws<RdmaException>(() => RdmaContext.Open("mlx5_9"));

        Assert.Equal(19, exception.Errno); // ENODEV
        Assert.Contains("mlx5_9", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_disposed_queue_pair_refuses_calls_instead_of_using_freed_memory()
    {
        using var fake = TestShim.UseFakeDevice();
        using var pair = new FakePair();
        var endpoint = pair.B.LocalEndpoint;
        pair.A.Dispose();

        Assert.Throws<ObjectDisposedException>(() => pair.A.LocalEndpoint);
        Assert.Throws<ObjectDisposedException>(() => pair.A.Connect(endpoint));
        Assert.Throws<ObjectDisposedException>(() => pair.A.Post(pair.Local, [pair.Operation(1, RdmaOpcode.Read, 0, 0, 64)]));
        Assert.True(pair.A.IsClosed);
    }
}
