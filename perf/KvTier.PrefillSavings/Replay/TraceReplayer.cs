using System.Diagnostics;
using KvTier.Client;
using KvTier.Core;
using KvTier.Core.Hashing;
using KvTier.Core.Layout;
using KvTier.PrefillSavings.Economics;
using KvTier.PrefillSavings.Reporting;
using KvTier.PrefillSavings.Simulation;

namespace KvTier.PrefillSavings.Replay;

/// <summary>
/// Replays a workload through real nodes and the real client, one request at a time, as an inference engine would:
/// look the prompt's chain up, load the cached prefix (layer-major, verified by the client) and compare every loaded
/// byte with what was stored, then store the blocks after the prefix. Block payloads follow the model's layout with
/// tokens per block divided by the scale factor, so each block is the model's bytes divided by it.
/// </summary>
internal static class TraceReplayer
{
    public static async Task<ReplaySection> RunAsync(PreparedWorkload workload, SavingsConfig config, ModelPreset preset, PrefillProfile profile,
        ProgressLine progress, CancellationToken cancellationToken)
    {
        var layout = new KvLayout(preset.Layers, preset.KvHeads, preset.HeadDim, KvDataType.BFloat16, Workloads.TraceRequest.TokensPerBlock / config.ScaleFactor);
        var kvNamespace = new KvNamespace(preset.Name, "prefill-savings", layout, "prefill-savings", BlockHashAlgorithm.Xxh3, config.Codec, preset.VocabularySize);
        var arenaBytes = (long)config.ArenaMiB << 20;
        progress.Update(config.ReplayNodes == 1 ? "replay: starting the in-process node" : $"replay: starting {config.ReplayNodes} kvtier-node processes and redis-server", force: true);
        await using IReplayCluster cluster = config.ReplayNodes == 1
            ? await EmbeddedCluster.StartAsync(kvNamespace, arenaBytes, cancellationToken)
            : await ProcessCluster.StartAsync(kvNamespace, config.ReplayNodes, arenaBytes, cancellationToken);
        await using var client = new KvTierClient(cluster.ClientDirectory, new KvTierClientOptions { MembershipCacheTime = TimeSpan.FromMilliseconds(200) });
        var requests = config.ReplayRequests > 0 ? Math.Min(config.ReplayRequests, workload.Requests.Count) : workload.Requests.Count;
        var run = new ReplayRun(workload, kvNamespace, client, profile, config, requests);
        await run.ExecuteAsync(progress, cancellationToken);
        return run.ToSection(cluster.Description, arenaBytes);
    }

    /// <summary>The state of one replay: counters, latencies and per-request estimates.</summary>
    private sealed class ReplayRun(PreparedWorkload workload, KvNamespace kvNamespace, KvTierClient client, PrefillProfile profile,
        SavingsConfig config, int requests)
    {
        private readonly int chunkBytes = kvNamespace.Layout.BytesPerLayerChunk;
        private readonly int layers = kvNamespace.Layout.Layers;
        private readonly List<double> lookupMs = [];
        private readonly List<double> loadMs = [];
        private readonly List<double> storeMs = [];
        private readonly double[] ttftWithout = new double[requests];
        private readonly double[] ttftWith = new double[requests];
        private readonly double[] ttftWithMeasured = new double[requests];
        private readonly long[] bucketAccesses = new long[config.TimeBuckets];
        private readonly long[] bucketHits = new long[config.TimeBuckets];
        private readonly long[] bucketLoaded = new long[config.TimeBuckets];
        private readonly long[] bucketStored = new long[config.TimeBuckets];
        private long accesses, hitBlocks, hitTokens, promptTokens, verifiedBytes, mismatched, shortLoads, stored, alreadyCached, failed;
        private long bytesLoaded, bytesStored, loadSlower;
        private double loadSeconds, storeSeconds, gpuSecondsSaved, wallSeconds;

        public async Task ExecuteAsync(ProgressLine progress, CancellationToken cancellationToken)
        {
            var wall = Stopwatch.StartNew();
            var expected = new byte[chunkBytes];
            var start = workload.Requests[0].TimestampMs;
            for (var request = 0; request < requests; request++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var blocks = workload.Blocks[request];
                var chain = blocks.Select(workload.KeyOf).ToArray();
                var bucket = TierSimulator.BucketOf(workload.Requests[request].TimestampMs - start, workload.SpanMs, config.TimeBuckets);
                accesses += chain.Length;
                bucketAccesses[bucket] += chain.Length;
                promptTokens += workload.Requests[request].InputLength;

                var timer = Stopwatch.StartNew();
                var prefix = await client.LookupAsync(kvNamespace, chain, cancellationToken);
                lookupMs.Add(timer.Elapsed.TotalMilliseconds);

                var loaded = 0;
                var loadTime = 0.0;
                if (prefix.HitCount > 0)
                {
                    var buffer = new byte[KvTierClient.BufferBytes(kvNamespace, prefix.HitCount, layers)];
                    timer.Restart();
                    var result = await client.LoadAsync(kvNamespace, prefix, buffer, null, cancellationToken);
                    loadTime = timer.Elapsed.TotalSeconds;
                    loadMs.Add(loadTime * 1000);
                    loadSeconds += loadTime;
                    loaded = result.LoadedBlocks;
                    shortLoads += loaded < prefix.HitCount ? 1 : 0;
                    var bytes = (long)loaded * layers * chunkBytes;
                    bytesLoaded += bytes;
                    bucketLoaded[bucket] += bytes;
                    Verify(buffer, prefix.HitCount, blocks, loaded, expected);
                }

                var savedTokens = 0;
                for (var index = 0; index < loaded; index++)
                {
                    savedTokens += workload.TokensOf(request, index);
                }

                hitBlocks += loaded;
                bucketHits[bucket] += loaded;
                hitTokens += savedTokens;

                if (loaded < chain.Length)
                {
                    var source = new byte[KvTierClient.BufferBytes(kvNamespace, chain.Length - loaded, layers)];
                    Fill(source, blocks, loaded);
                    timer.Restart();
                    var result = await client.StoreAsync(kvNamespace, chain, loaded, source, cancellationToken);
                    var storeTime = timer.Elapsed.TotalSeconds;
                    storeMs.Add(storeTime * 1000);
                    storeSeconds += storeTime;
                    stored += result.Stored;
                    alreadyCached += result.AlreadyCached;
                    failed += result.Failed;
                    var bytes = (long)result.Stored * layers * chunkBytes;
                    bytesStored += bytes;
                    bucketStored[bucket] += bytes;
                }

                Estimate(request, savedTokens, loaded, loadTime);
                progress.Update($"replay {request + 1:N0}/{requests:N0} requests, block hit ratio {SimulationSweep.Ratio(hitBlocks, accesses):P1}, " +
                    $"{bytesLoaded / (double)(1L << 30):F2} GiB loaded and verified, {wall.Elapsed.TotalSeconds:F0} s");
            }

            wallSeconds = wall.Elapsed.TotalSeconds;
        }

        public ReplaySection ToSection(string cluster, long arenaBytes)
        {
            var encodedBlockBytes = (long)layers * chunkBytes;
            var capacityBlocks = arenaBytes * config.ReplayNodes / encodedBlockBytes;
            // The nodes heartbeat in wall-clock time while the replay runs faster (or slower) than the trace: give the
            // simulator the same number of heartbeats per request, in trace time.
            var replayed = Truncated();
            var heartbeatMs = NodeModel.Default.HeartbeatMs * replayed.SpanMs / Math.Max(1, wallSeconds * 1000);
            var simulated = TierSimulator.Run(replayed, new CacheConfig("s3-fifo", Math.Max(capacityBlocks, config.ReplayNodes), config.ReplayNodes), 1,
                NodeModel.Default with { HeartbeatMs = heartbeatMs });
            return new ReplaySection(
                cluster, config.ReplayNodes, config.ScaleFactor, encodedBlockBytes, kvNamespace.Codec, arenaBytes, requests,
                accesses, hitBlocks, SimulationSweep.Ratio(hitBlocks, accesses), hitTokens, SimulationSweep.Ratio(hitTokens, promptTokens),
                SimulationSweep.Ratio(simulated.PrefixHitBlocks, simulated.Accesses), capacityBlocks,
                verifiedBytes, mismatched, shortLoads, stored, alreadyCached, failed,
                bytesLoaded / (double)(1L << 30), bytesStored / (double)(1L << 30),
                LatencySummary.Of(lookupMs), LatencySummary.Of(loadMs), LatencySummary.Of(storeMs),
                loadSeconds > 0 ? bytesLoaded / loadSeconds / 1e9 : 0, storeSeconds > 0 ? bytesStored / storeSeconds / 1e9 : 0,
                config.LinkGBps, LatencySummary.Of(ttftWithout), LatencySummary.Of(ttftWith), LatencySummary.Of(ttftWithMeasured), loadSlower,
                gpuSecondsSaved, profile.Dollars(gpuSecondsSaved), wallSeconds,
                [.. bucketHits.Select((hits, bucket) => SimulationSweep.Ratio(hits, bucketAccesses[bucket]))],
                [.. bucketLoaded.Select(bytes => bytes / (double)(1L << 30))],
                [.. bucketStored.Select(bytes => bytes / (double)(1L << 30))],
                ttftWithout, ttftWith, ttftWithMeasured);
        }

        private PreparedWorkload Truncated() =>
            requests == workload.Requests.Count ? workload : PreparedWorkload.From(workload.Name, workload.Requests.Take(requests));

        /// <summary>Compares the first <paramref name="loaded"/> blocks of a layer-major buffer of <paramref name="bufferBlocks"/>
        /// blocks with the pattern they were stored with.</summary>
        private void Verify(byte[] buffer, int bufferBlocks, int[] blocks, int loaded, byte[] expected)
        {
            for (var index = 0; index < loaded; index++)
            {
                var good = true;
                for (var layer = 0; layer < layers; layer++)
                {
                    PayloadPattern.Fill(expected, blocks[index], layer);
                    var actual = buffer.AsSpan(((layer * bufferBlocks) + index) * chunkBytes, chunkBytes);
                    good &= actual.SequenceEqual(expected);
                    verifiedBytes += chunkBytes;
                }

                mismatched += good ? 0 : 1;
            }
        }

        private void Fill(byte[] source, int[] blocks, int first)
        {
            var count = blocks.Length - first;
            for (var index = 0; index < count; index++)
            {
                for (var layer = 0; layer < layers; layer++)
                {
                    PayloadPattern.Fill(source.AsSpan(((layer * count) + index) * chunkBytes, chunkBytes), blocks[first + index], layer);
                }
            }
        }

        /// <summary>TTFT without the tier prefills the whole prompt; with it, the rest of the prompt plus the load of the
        /// full-size bytes, at the configured link throughput and, beside it, at the throughput measured here (the
        /// measured time times the scale factor: bandwidth-bound). The load is not overlapped with compute.</summary>
        private void Estimate(int request, int savedTokens, int loaded, double loadTime)
        {
            var input = workload.Requests[request].InputLength;
            var overhead = profile.OverheadMs;
            ttftWithout[request] = overhead + (profile.PrefillSeconds(input) * 1000);
            var linkLoad = (double)loaded * layers * chunkBytes * config.ScaleFactor / (config.LinkGBps * 1e9);
            var measuredLoad = loadTime * config.ScaleFactor;
            var rest = overhead + (profile.PrefillSeconds(input - savedTokens) * 1000);
            ttftWith[request] = rest + (linkLoad * 1000);
            ttftWithMeasured[request] = rest + (measuredLoad * 1000);
            loadSlower += savedTokens > 0 && linkLoad > profile.PrefillSeconds(savedTokens) ? 1 : 0;
            gpuSecondsSaved += profile.GpuSeconds(savedTokens);
        }
    }
}
