using System.Runtime.InteropServices;
using KvTier.Rdma;
using KvTier.Rdma.Tests;

namespace KvTier.Client.Gpu.Tests;

/// <summary>GPUDirect RDMA with both fakes: the fake CUDA driver's device memory (host memory) exported as a dma-buf
/// and registered with the fake RDMA device, which the extent reader then reads a node's arena into.</summary>
[Collection(NativeShimCollection.Name)]
public sealed class GpuDirectTests
{
    private const int ArenaBytes = 1 << 20;
    private const int Chunk = 16 << 10;

    [Fact]
    public async Task Chunks_read_over_rdma_land_in_gpu_memory_registered_through_dma_buf()
    {
        using var fake = TestShim.UseFakeDevice();
        using var cuda = FakeGpu.Open();
        using var rdma = RdmaContext.Open();
        var arena = GC.AllocateArray<byte>(ArenaBytes, pinned: true); // the node's arena is pinned memory too
        new Random(11).NextBytes(arena);
        using var server = new RdmaArenaServer(rdma, Marshal.UnsafeAddrOfPinnedArrayElement(arena, 0), ArenaBytes);
        using var device = cuda.Allocate(16 * Chunk);
        using var stream = cuda.CreateStream();

        Assert.True(GpuDirectRdma.TryRegister(rdma, device, out var destination, out var reason), reason);
        using var region = destination.Region;
        using var reader = new RdmaExtentReader(rdma, destination, (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint)));
        var transfers = Enumerable.Range(0, 16)
            .Select(i => new RdmaExtentTransfer((ulong)((i * 13 % 64) * Chunk), Chunk, (ulong)((15 - i) * Chunk), 0))
            .ToArray();
        var statuses = new RdmaTransferStatus[16];

        var summary = await reader.ReadAsync(transfers, statuses, TestContext.Current.CancellationToken);

        Assert.Equal(RdmaMemoryKind.Device, destination.Kind);
        Assert.Equal(device.Pointer, region.Address);
        Assert.Contains("dma-buf", reason, StringComparison.Ordinal);
        Assert.Equal(16, summary.Succeeded);
        Assert.All(statuses, s => Assert.Equal(RdmaTransferStatus.Delivered, s));
        var onGpu = FakeGpu.ReadBack(stream, device, 0, 16 * Chunk);
        foreach (var t in transfers)
        {
            Assert.True(onGpu.AsSpan((int)t.LocalOffset, Chunk).SequenceEqual(arena.AsSpan((int)t.RemoteOffset, Chunk)),
                $"arena extent {t.RemoteOffset} is not at device offset {t.LocalOffset}");
        }
    }
}
