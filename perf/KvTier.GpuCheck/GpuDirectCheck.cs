using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using KvTier.Client.Gpu;
using KvTier.Cuda;
using KvTier.Rdma;

namespace KvTier.GpuCheck;

/// <summary>
/// <c>--gpudirect-only</c>: whether this machine can RDMA straight into GPU memory. Where there is a GPU and an RDMA
/// device, a 64 MiB GPU buffer is registered with the NIC (<see cref="GpuDirectRdma.TryRegister"/>: dma-buf, else
/// nvidia-peermem), an <see cref="RdmaArenaServer"/> serves a pinned host "arena" on the same device, and an
/// <see cref="RdmaExtentReader"/> reads it into the GPU in 64 KiB extents through the NIC's loopback; the device
/// bytes are copied back and compared. perf/gpu-check.sh runs it as its own process after the main check, so a fault
/// in a NIC driver cannot cost the main results.
/// </summary>
internal static class GpuDirectCheck
{
    private const ulong Bytes = 64UL << 20;
    private const uint Extent = 64 << 10;

    public static async Task<int> RunAsync(string output)
    {
        await using var stream = File.Create(output);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        json.WriteStartObject();
        json.WriteString("date_utc", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
        var exitCode = 0;
        try
        {
            exitCode = await ProbeAsync(json);
        }
        catch (Exception error) when (error is CudaException or RdmaException)
        {
            json.WriteString("error", error.Message);
            Console.WriteLine($"GPUDirect probe: {error.Message}");
            exitCode = 1;
        }

        json.WriteEndObject();
        await json.FlushAsync();
        return exitCode;
    }

    private static async Task<int> ProbeAsync(Utf8JsonWriter json)
    {
        var gpu = CudaCapability.Detect();
        var rdma = RdmaCapability.Detect();
        json.WriteBoolean("gpu_available", gpu.IsAvailable);
        json.WriteString("gpu_reason", gpu.Reason);
        json.WriteBoolean("rdma_available", rdma.IsAvailable);
        json.WriteString("rdma_reason", rdma.Reason);
        Console.WriteLine($"GPUDirect probe: {gpu.Reason}; {rdma.Reason}");
        if (!gpu.IsAvailable || !rdma.IsAvailable)
        {
            return 0;
        }

        using var cuda = CudaContext.Open(0);
        using var nic = RdmaContext.Open();
        json.WriteString("rdma_port", $"port {nic.Port.PortNumber}, GID index {nic.Port.GidIndex} type {nic.Port.GidType}, " +
                                      $"MTU {nic.Port.ActiveMtu}, link layer {nic.Port.LinkLayer}, active {nic.Port.IsActive}");
        using var device = cuda.Allocate(Bytes);
        var registered = GpuDirectRdma.TryRegister(nic, device, out var destination, out var reason);
        json.WriteBoolean("gpudirect_registered", registered);
        json.WriteString("gpudirect_detail", reason);
        Console.WriteLine($"GPUDirect probe: {reason}");
        if (!registered)
        {
            return 0;
        }

        using var region = destination!.Region;
        using var arena = new HostMemory(Bytes);
        using var readback = new HostMemory(Bytes);
        using var readbackPin = cuda.RegisterHost(readback.Address, Bytes);
        arena.FillPattern(0x6D6C7835);
        using var server = new RdmaArenaServer(nic, arena.Address, Bytes);
        using var reader = new RdmaExtentReader(nic, destination, (endpoint, _) => ValueTask.FromResult(server.Accept(endpoint)));
        var count = (int)(Bytes / Extent);
        var transfers = new RdmaExtentTransfer[count];
        for (var i = 0; i < count; i++)
        {
            transfers[i] = new RdmaExtentTransfer((ulong)i * Extent, Extent, (ulong)(count - 1 - i) * Extent, 0);
        }

        var statuses = new RdmaTransferStatus[count];
        var best = double.MaxValue;
        RdmaTransferSummary? summary = null;
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            summary = await reader.ReadAsync(transfers, statuses);
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }

        using var copies = cuda.CreateStream();
        copies.CopyToHostAsync(readback.Address, device, 0, Bytes);
        copies.Synchronize();
        var verified = summary!.Succeeded == count;
        for (var i = 0; i < count && verified; i++)
        {
            verified = readback.Slice((ulong)(count - 1 - i) * Extent, (int)Extent).SequenceEqual(arena.Slice((ulong)i * Extent, (int)Extent));
        }

        json.WriteNumber("loopback_read_gbps", Math.Round(Bytes / best / 1e9, 2));
        json.WriteString("read_summary", summary.ToString());
        json.WriteBoolean("verified_device_bytes", verified);
        Console.WriteLine($"GPUDirect probe: {Bytes >> 20} MiB read into GPU memory in 64 KiB RDMA READs (NIC loopback), best of 3 " +
                          $"{Bytes / best / 1e9:F2} GB/s; device bytes {(verified ? "verified" : "DIFFER")}");
        return verified ? 0 : 1;
    }
}
