using System.Diagnostics;
using System.Text.Json;
using KvTier.BlockDirectory.InProcess;
using KvTier.Client;
using KvTier.Client.Gpu;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.Cuda;

namespace KvTier.GpuCheck;

/// <summary>
/// The client's GPU load end to end: in-process nodes on loopback hold <c>blocks</c> blocks of a real model
/// layout, a <see cref="KvTierClient"/> loads them into GPU memory through <see cref="GpuKvLoader"/> (pinned
/// staging, per-layer async copies), the device bytes are copied back and compared with what was stored. Reports
/// the GPU load's GB/s beside the same client load into pinned host memory only (the baseline, same run) and when
/// each layer was staged and landed on the GPU.
/// </summary>
internal static class GpuLoadCheck
{
    private const int Nodes = 2;

    public static async Task RunAsync(CudaContext context, Utf8JsonWriter json, List<string> failures, string model, int blocks,
        int iterations)
    {
        var preset = ModelPresets.Get(model);
        var ns = new KvNamespace(preset.ModelId, "main", preset.ToLayout(KvDataType.BFloat16, 16), "gpu-check",
            BlockHashAlgorithm.Xxh3, "none", preset.VocabularySize);
        var layout = ns.Layout;
        var bytes = KvTierClient.BufferBytes(ns, blocks, layout.Layers);
        Console.WriteLine($"GPU load: {blocks} blocks of {preset.Name} ({layout.BytesPerBlock >> 10} KiB each, " +
                          $"{layout.Layers} layers x {layout.BytesPerLayerChunk >> 10} KiB), {bytes >> 20} MiB over {Nodes} in-process nodes");
        json.WriteStartObject("gpu_load");
        json.WriteString("model", preset.Name);
        json.WriteNumber("blocks", blocks);
        json.WriteNumber("block_bytes", layout.BytesPerBlock);
        json.WriteNumber("layers", layout.Layers);
        json.WriteNumber("total_mib", bytes >> 20);
        json.WriteNumber("nodes", Nodes);
        json.WriteString("codec", ns.Codec);
        json.WriteString("transport", "loopback TCP (in-process nodes)");

        await using var directory = new InProcessBlockDirectory();
        var nodes = new List<InProcessNode>();
        try
        {
            for (var i = 0; i < Nodes; i++)
            {
                nodes.Add(await InProcessNode.StartAsync(directory, (ulong)i + 1, bytes + (bytes / 4) + (64L << 20), ns));
            }

            await using var client = new KvTierClient(directory, new KvTierClientOptions
            {
                RequestTimeout = TimeSpan.FromMinutes(2),
                MembershipCacheTime = TimeSpan.FromMinutes(10),
            });
            var chain = Enumerable.Range(0, blocks).Select(i => new BlockKey((ulong)i + 1, 0x6b7674)).ToArray();
            var source = new byte[bytes];
            new Random(42).NextBytes(source);
            var stored = await client.StoreAsync(ns, chain, 0, source);
            var prefix = await client.LookupAsync(ns, chain);
            json.WriteNumber("stored_blocks", stored.Stored);
            json.WriteNumber("hit_blocks", prefix.HitCount);
            if (stored.Failed > 0 || prefix.HitCount != blocks)
            {
                failures.Add($"gpu load setup stored {stored} and found {prefix.HitCount} of {blocks} blocks");
                json.WriteEndObject();
                return;
            }

            using var loader = new GpuKvLoader(client, context, new GpuKvLoaderOptions { MaxStagingBytes = Math.Min(int.MaxValue, bytes) });
            using var device = context.Allocate((ulong)bytes);
            using var host = new HostMemory((ulong)bytes);
            using var hostPin = context.RegisterHost(host.Address, (ulong)bytes);
            var destination = GpuKvDestination.ForBlocks(device, ns, blocks);

            // Verification: the device buffer starts as zeros (host is fresh mmap), then holds exactly the stored bytes.
            context.CopyToDevice(device, 0, host.Address, (ulong)bytes);
            var first = await loader.LoadAsync(ns, prefix, destination);
            loader.CopyStream.CopyToHostAsync(host.Address, device, 0, (ulong)bytes);
            loader.CopyStream.Synchronize();
            var verified = first.LoadedBlocks == blocks && SameBytes(host, source);
            json.WriteNumber("loaded_blocks", first.LoadedBlocks);
            json.WriteString("path", first.Path.ToString());
            json.WriteString("path_reason", first.PathReason);
            json.WriteBoolean("verified_device_bytes", verified);
            if (!verified)
            {
                failures.Add($"gpu load: {first.LoadedBlocks} of {blocks} blocks loaded ({first.FirstFailure ?? "bytes differ"})");
            }

            // Baseline, same run and interleaved with the GPU loads (so machine noise hits both alike): the same
            // client load into pinned host memory, without the GPU copies.
            var hostBest = double.MaxValue;
            var gpuBest = double.MaxValue;
            var bestLayers = new List<(int Layer, double StagedMs, double OnGpuMs)>();
            for (var i = 0; i < iterations; i++)
            {
                var watch = Stopwatch.StartNew();
                var hostResult = await client.LoadToPointerAsync(ns, prefix, host.Address, bytes);
                hostBest = Math.Min(hostBest, watch.Elapsed.TotalSeconds);
                if (hostResult.LoadedBlocks != blocks)
                {
                    failures.Add($"host load returned {hostResult.LoadedBlocks} of {blocks} blocks: {hostResult.FirstFailure}");
                }

                watch.Restart();
                var result = await loader.LoadAsync(ns, prefix, destination);
                loader.CopyStream.Synchronize();
                var elapsed = watch.Elapsed.TotalSeconds;
                if (result.LoadedBlocks != blocks)
                {
                    failures.Add($"gpu load returned {result.LoadedBlocks} of {blocks} blocks: {result.FirstFailure}");
                }

                if (elapsed < gpuBest)
                {
                    // Read now: the events are reused by the next load.
                    gpuBest = elapsed;
                    bestLayers = [.. result.Layers.Select(l => (l.Layer, l.StagedAfter.TotalMilliseconds,
                        (double)l.CopyDone.ElapsedMillisecondsSince(result.Started)))];
                }
            }

            json.WriteNumber("iterations", iterations);
            json.WriteNumber("host_load_gbps", Math.Round(bytes / hostBest / 1e9, 3));
            json.WriteNumber("host_load_ms", Math.Round(hostBest * 1e3, 2));
            json.WriteNumber("gpu_load_gbps", Math.Round(bytes / gpuBest / 1e9, 3));
            json.WriteNumber("gpu_load_ms", Math.Round(gpuBest * 1e3, 2));
            json.WriteStartArray("per_layer_ms");
            foreach (var (layer, stagedMs, onGpuMs) in bestLayers)
            {
                // staged: host time from the load's start until the layer was verified in staging and its copy queued;
                // on_gpu: GPU time from the load's start event until the layer's copy had finished.
                json.WriteStartObject();
                json.WriteNumber("layer", layer);
                json.WriteNumber("staged", Math.Round(stagedMs, 3));
                json.WriteNumber("on_gpu", Math.Round(onGpuMs, 3));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
            Console.WriteLine($"GPU load {bytes >> 20} MiB best of {iterations}: {bytes / gpuBest / 1e9:F2} GB/s ({gpuBest * 1e3:F1} ms) " +
                              $"beside the host-only load {bytes / hostBest / 1e9:F2} GB/s ({hostBest * 1e3:F1} ms); " +
                              $"device bytes {(verified ? "verified" : "DIFFER")}");
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }
    }

    private static bool SameBytes(HostMemory host, byte[] source)
    {
        for (long offset = 0; offset < source.Length; offset += 1 << 30)
        {
            var length = (int)Math.Min(1 << 30, source.Length - offset);
            if (!host.Slice((ulong)offset, length).SequenceEqual(source.AsSpan((int)offset, length)))
            {
                return false;
            }
        }

        return true;
    }
}
