using System.Diagnostics;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using KvTier.Cuda;
using KvTier.GpuCheck;

// kvtier-gpu-check [--size-mib N] [--iterations N] [--output FILE] [--require-gpu] [--load-blocks N] [--load-model NAME]
// kvtier-gpu-check --gpudirect-only [--output FILE]   (GpuDirectCheck: RDMA straight into GPU memory, where possible)
// After the binding checks it runs the client's GPU load end to end (GpuLoadCheck; --load-blocks 0 skips it).
// Exit: 0 checked (or no GPU without --require-gpu), 1 a verification failed, 2 no GPU with --require-gpu.
var sizeMiB = 1024UL;
var iterations = 5;
var output = "gpu-check.json";
var requireGpu = false;
var loadBlocks = 192;
var loadModel = "llama-3-8b";
var gpuDirectOnly = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--size-mib": sizeMiB = ulong.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--iterations": iterations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--output": output = args[++i]; break;
        case "--require-gpu": requireGpu = true; break;
        case "--load-blocks": loadBlocks = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--load-model": loadModel = args[++i]; break;
        case "--gpudirect-only": gpuDirectOnly = true; break;
        default:
            Console.Error.WriteLine($"unknown argument '{args[i]}' (use --size-mib, --iterations, --output, --require-gpu, --load-blocks, --load-model, --gpudirect-only)");
            return 64;
    }
}

if (gpuDirectOnly)
{
    return await GpuDirectCheck.RunAsync(output);
}

var report = CudaCapability.Detect();
using var stream = File.Create(output);
using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
json.WriteStartObject();
json.WriteString("date_utc", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
json.WriteString("host", Environment.MachineName);
json.WriteBoolean("gpu_available", report.IsAvailable);
json.WriteString("availability", report.Availability.ToString());
json.WriteString("reason", report.Reason);
json.WriteNumber("driver_version", report.DriverVersion);
if (!report.IsAvailable)
{
    json.WriteEndObject();
    json.Flush();
    Console.WriteLine($"{report.Reason} ({report.Availability}); wrote {output}");
    return requireGpu ? 2 : 0;
}

var bytes = sizeMiB << 20;
var failures = new List<string>();
using var context = CudaContext.Open(0);
var device = context.Device;
Console.WriteLine($"GPU 0: {device.Name}, {device.TotalMemoryBytes >> 20} MiB, sm {device.ComputeCapability}, " +
                  $"PCI {device.PciBusId}, GPUDirect RDMA {device.GpuDirectRdmaSupported}, dma-buf {device.DmaBufSupported}");
json.WriteStartObject("device");
json.WriteString("name", device.Name);
json.WriteNumber("memory_mib", device.TotalMemoryBytes >> 20);
json.WriteString("compute_capability", device.ComputeCapability);
json.WriteString("pci_bus_id", device.PciBusId);
json.WriteBoolean("gpudirect_rdma_supported", device.GpuDirectRdmaSupported);
json.WriteBoolean("dma_buf_supported", device.DmaBufSupported);
json.WriteEndObject();
json.WriteNumber("size_mib", sizeMiB);
json.WriteNumber("iterations", iterations);

using var arena = new HostMemory(bytes);
using var pageable = new HostMemory(bytes);
using var readback = new HostMemory(bytes);
var watch = Stopwatch.StartNew();
using var arenaPin = context.RegisterHost(arena.Address, bytes);
var registerMs = watch.Elapsed.TotalMilliseconds;
using var readbackPin = context.RegisterHost(readback.Address, bytes);
using var buffer = context.Allocate(bytes);
using var copies = context.CreateStream();
using var start = context.CreateEvent();
using var end = context.CreateEvent();
json.WriteNumber("register_ms", Math.Round(registerMs, 2));

// Byte verification: arena -> GPU -> readback, at the full size and at an odd offset and length.
arena.FillPattern(0xC0FFEE);
copies.CopyToDeviceAsync(buffer, 0, arena.Address, bytes);
copies.CopyToHostAsync(readback.Address, buffer, 0, bytes);
copies.Synchronize();
var roundTrip = readback.SameBytes(arena, bytes);
readback.Slice(0, 4096).Clear();
copies.CopyToHostAsync(readback.Address, buffer, 4093, 3001);
copies.Synchronize();
var offsetCopy = readback.Slice(0, 3001).SequenceEqual(arena.Slice(4093, 3001));
json.WriteBoolean("verified_round_trip", roundTrip);
json.WriteBoolean("verified_offset_copy", offsetCopy);
if (!roundTrip) failures.Add("round trip bytes differ");
if (!offsetCopy) failures.Add("offset copy bytes differ");

double Measure(Action copy)
{
    var best = double.MaxValue;
    for (var i = 0; i < iterations; i++)
    {
        copies.Record(start);
        copy();
        copies.Record(end);
        end.Synchronize();
        best = Math.Min(best, end.ElapsedMillisecondsSince(start));
    }

    return bytes / (best / 1000.0) / 1e9;
}

var pinnedGbps = Measure(() => copies.CopyToDeviceAsync(buffer, 0, arena.Address, bytes));
pageable.FillPattern(7);
var pageableGbps = Measure(() => copies.CopyToDeviceAsync(buffer, 0, pageable.Address, bytes));
var plainBest = double.MaxValue;
for (var i = 0; i < iterations; i++)
{
    watch.Restart();
    context.CopyToDevice(buffer, 0, pageable.Address, bytes); // what cudaMemcpy does for pageable memory
    plainBest = Math.Min(plainBest, watch.Elapsed.TotalSeconds);
}

var plainGbps = bytes / plainBest / 1e9;
json.WriteStartObject("host_to_device_gbps");
json.WriteNumber("pinned_arena_async", Math.Round(pinnedGbps, 2));
json.WriteNumber("pageable_async", Math.Round(pageableGbps, 2));
json.WriteNumber("pageable_sync_memcpy", Math.Round(plainGbps, 2));
json.WriteEndObject();
Console.WriteLine($"H2D {sizeMiB} MiB best of {iterations}: pinned arena {pinnedGbps:F2} GB/s, pageable async " +
                  $"{pageableGbps:F2} GB/s, pageable sync memcpy {plainGbps:F2} GB/s");

using (var small = context.Allocate(64 << 20))
{
    var exported = small.TryExportDmaBuf(out var fd, out var reason);
    json.WriteBoolean("dma_buf_export", exported);
    json.WriteString("dma_buf_export_detail", exported ? "cuMemGetHandleForAddressRange returned a dma-buf fd" : reason);
    if (exported)
    {
        _ = HostMemory.CloseDescriptor(fd);
    }

    Console.WriteLine(exported ? "dma-buf export: ok" : $"dma-buf export: {reason}");
}

if (loadBlocks > 0)
{
    await GpuLoadCheck.RunAsync(context, json, failures, loadModel, loadBlocks, iterations);
}

json.WriteStartArray("failures");
foreach (var failure in failures)
{
    json.WriteStringValue(failure);
}

json.WriteEndArray();
json.WriteEndObject();
json.Flush();
Console.WriteLine(failures.Count == 0 ? $"PASS; wrote {output}" : $"FAIL: {string.Join("; ", failures)}; wrote {output}");
return failures.Count == 0 ? 0 : 1;
