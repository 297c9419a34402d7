using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using KvTier.BlockDirectory;
using KvTier.Core;
using KvTier.Cuda;

namespace KvTier.Client.Gpu;

/// <summary>
/// Loads cached blocks into GPU memory through a <see cref="KvTierClient"/>: the client loads into a pinned host
/// staging buffer (verified, decoded, layer by layer) and, as each layer lands, the loader queues that layer's
/// host-to-device copy on its CUDA stream and records the layer's event, so layer i is copied while layer i + 1
/// is still loading and an engine can start computing on layer i as soon as its event has happened. Where the NIC
/// can write into GPU memory (GPUDirect RDMA; see <see cref="GpuKvLoaderOptions.GpuDirect"/>), the client's RDMA
/// reads land in the destination directly instead, layer by layer, and each layer's event follows its reads.
/// </summary>
/// <remarks>
/// One loader runs one load at a time (they share the staging buffer and the per-layer events); create one per
/// concurrent load stream. A load's events stay valid until the next load on the same loader starts.
/// </remarks>
public sealed class GpuKvLoader : IDisposable
{
    private readonly KvTierClient client;
    private readonly bool ownsContext;
    private readonly PinnedStaging staging;
    private readonly SemaphoreSlim oneLoad = new(1, 1);
    private readonly List<CudaEvent> layerEvents = [];
    private readonly CudaEvent started;
    private bool disposed;

    /// <summary>Creates a loader on <paramref name="context"/>'s GPU (the caller keeps owning the context).</summary>
    /// <exception cref="ArgumentException">An option is invalid; the message names it.</exception>
    public GpuKvLoader(KvTierClient client, CudaContext context, GpuKvLoaderOptions? options = null)
        : this(client, context, options, ownsContext: false)
    {
    }

    private GpuKvLoader(KvTierClient client, CudaContext context, GpuKvLoaderOptions? options, bool ownsContext)
    {
        this.client = client ?? throw new ArgumentNullException(nameof(client));
        Context = context ?? throw new ArgumentNullException(nameof(context));
        Options = options ?? new GpuKvLoaderOptions();
        Options.Validate();
        this.ownsContext = ownsContext;
        staging = new PinnedStaging(context);
        CopyStream = context.CreateStream();
        started = context.CreateEvent();
    }

    /// <summary>The GPU's context.</summary>
    public CudaContext Context { get; }

    /// <summary>The stream the host-to-device copies run on.</summary>
    public CudaStream CopyStream { get; }

    /// <summary>The loader's settings.</summary>
    public GpuKvLoaderOptions Options { get; }

    /// <summary>Bytes of pinned staging currently held.</summary>
    public long StagingBytes => staging.Length;

    /// <summary>Opens GPU <paramref name="deviceOrdinal"/> and creates a loader that owns its context; false with
    /// the detection reason ("no GPU: ...") when this machine has no usable GPU, so the engine loads into host
    /// memory with <see cref="KvTierClient.LoadAsync"/> instead.</summary>
    public static bool TryCreate(KvTierClient client, [NotNullWhen(true)] out GpuKvLoader? loader, out string reason,
        int deviceOrdinal = 0, GpuKvLoaderOptions? options = null, string? cudaLibraryPath = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        var report = CudaCapability.Detect(cudaLibraryPath);
        reason = report.Reason;
        loader = null;
        if (!report.IsAvailable)
        {
            return false;
        }

        if (deviceOrdinal < 0 || deviceOrdinal >= report.Devices.Count)
        {
            reason = $"no GPU {deviceOrdinal}: this machine has {report.Devices.Count}";
            return false;
        }

        var context = CudaContext.Open(deviceOrdinal, cudaLibraryPath);
        try
        {
            loader = new GpuKvLoader(client, context, options, ownsContext: true);
            return true;
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Loads the cached prefix found by a lookup into <paramref name="destination"/>'s layers on the GPU. Returns
    /// when every layer's copy is queued (not finished: wait on the layers' events, or on <see cref="CopyStream"/>).
    /// A block missing, corrupt or unreachable everywhere ends the usable prefix as in
    /// <see cref="KvTierClient.LoadAsync"/>; only the first <see cref="GpuLoadResult.LoadedBlocks"/> blocks of each
    /// layer are valid.
    /// </summary>
    public async Task<GpuLoadResult> LoadAsync(KvNamespace kvNamespace, PrefixLookup prefix, GpuKvDestination destination,
        GpuLoadOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(kvNamespace);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(destination);
        ObjectDisposedException.ThrowIf(disposed, this);
        options ??= new GpuLoadOptions();
        var layout = kvNamespace.Layout;
        if (destination.FirstLayer + destination.LayerCount > layout.Layers)
        {
            throw new ArgumentException(
                $"The destination's layers {destination.FirstLayer}..{destination.FirstLayer + destination.LayerCount - 1} are outside the {layout.Layers} layers of namespace {kvNamespace.Id}.",
                nameof(destination));
        }

        var blocks = Math.Min(Math.Min(prefix.HitCount, Math.Max(0, options.MaxBlocks)), destination.BlockCapacity(kvNamespace));
        await oneLoad.WaitAsync(cancellationToken);
        try
        {
            // The previous load's copies may still read the staging buffer and record its events.
            CopyStream.Synchronize();
            return await RunAsync(kvNamespace, prefix, destination, options, blocks, cancellationToken);
        }
        finally
        {
            oneLoad.Release();
        }
    }

    private async Task<GpuLoadResult> RunAsync(KvNamespace kvNamespace, PrefixLookup prefix, GpuKvDestination destination,
        GpuLoadOptions options, int blocks, CancellationToken cancellationToken)
    {
        var chunk = kvNamespace.Layout.BytesPerLayerChunk;
        var layerBytes = (long)blocks * chunk;
        while (layerEvents.Count < destination.LayerCount)
        {
            layerEvents.Add(Context.CreateEvent());
        }

        var layers = new GpuLayerLoad?[destination.LayerCount];
        var clock = Stopwatch.StartNew();
        CopyStream.Record(started);
        if (blocks == 0)
        {
            for (var i = 0; i < layers.Length; i++)
            {
                CopyStream.Record(layerEvents[i]);
                layers[i] = new GpuLayerLoad(destination.FirstLayer + i, 0, clock.Elapsed, layerEvents[i]);
            }

            return new GpuLoadResult(0, 0, null, GpuLoadPath.PinnedStaging, layers!, started) { PathReason = "nothing to load" };
        }

        var pathReason = "GPUDirect RDMA is off (GpuKvLoaderOptions.GpuDirect)";
        if (Options.GpuDirect != GpuDirectMode.Off)
        {
            var target = destination.DirectTarget(out pathReason);
            if (target is not null)
            {
                var check = await client.CheckDirectLoadAsync(kvNamespace, prefix, target, blocks, cancellationToken);
                pathReason = check.Reason;
                if (check.IsPossible)
                {
                    return await LoadDirectAsync(kvNamespace, prefix, destination, target, options, layers, clock, blocks, check.Reason,
                        cancellationToken);
                }
            }

            if (Options.GpuDirect == GpuDirectMode.Require)
            {
                throw new InvalidOperationException($"GpuDirect is Require, but GPUDirect RDMA cannot be used: {pathReason}.");
            }
        }

        var layersPerGroup = (int)Math.Clamp(Options.MaxStagingBytes / layerBytes, 0, destination.LayerCount);
        if (layersPerGroup == 0)
        {
            throw new ArgumentException(
                $"One layer of {blocks} blocks is {layerBytes} bytes, over MaxStagingBytes ({Options.MaxStagingBytes}); raise it or load fewer blocks.",
                nameof(options));
        }

        staging.Ensure(layersPerGroup * layerBytes);
        var loaded = blocks;
        string? firstFailure = null;
        for (var groupFirst = 0; groupFirst < destination.LayerCount; groupFirst += layersPerGroup)
        {
            if (groupFirst > 0)
            {
                CopyStream.Synchronize(); // the previous group's copies read the staging buffer
            }

            var groupCount = Math.Min(layersPerGroup, destination.LayerCount - groupFirst);
            var group = new LayerGroup(this, destination, options.LayerLoaded, layers, clock, groupFirst, loaded, chunk);
            var result = await client.LoadToPointerAsync(kvNamespace, prefix, staging.Address, (long)groupCount * loaded * chunk,
                new LoadOptions
                {
                    FirstLayer = destination.FirstLayer + groupFirst,
                    LayerCount = groupCount,
                    MaxBlocks = loaded,
                    LayerLoaded = group.OnLayerLoaded,
                }, cancellationToken);
            group.ThrowIfCopyFailed();

            // A layer the client did not report is final once the load returned: queue it with the usable prefix.
            for (var i = groupFirst; i < groupFirst + groupCount; i++)
            {
                if (layers[i] is null)
                {
                    group.Queue(destination.FirstLayer + i, result.LoadedBlocks);
                }
            }

            group.ThrowIfCopyFailed();
            if (result.LoadedBlocks < loaded)
            {
                firstFailure ??= result.FirstFailure;
                loaded = result.LoadedBlocks; // later layer groups load only the prefix every layer has
            }

            if (loaded == 0)
            {
                for (var i = groupFirst + groupCount; i < layers.Length; i++)
                {
                    CopyStream.Record(layerEvents[i]);
                    layers[i] = new GpuLayerLoad(destination.FirstLayer + i, 0, clock.Elapsed, layerEvents[i]);
                }

                break;
            }
        }

        return new GpuLoadResult(loaded, blocks, firstFailure, GpuLoadPath.PinnedStaging, layers!, started)
        {
            PathReason = $"pinned staging: {pathReason}",
        };
    }

    /// <summary>GPUDirect RDMA: the client's NIC reads every layer's chunks straight into the destination; as each layer's
    /// reads complete, the loader flushes them to the GPU and records the layer's event.</summary>
    private async Task<GpuLoadResult> LoadDirectAsync(KvNamespace kvNamespace, PrefixLookup prefix, GpuKvDestination destination,
        DirectLoadTarget target, GpuLoadOptions options, GpuLayerLoad?[] layers, Stopwatch clock, int blocks, string reason,
        CancellationToken cancellationToken)
    {
        var group = new LayerGroup(this, destination, options.LayerLoaded, layers, clock, 0, blocks, kvNamespace.Layout.BytesPerLayerChunk,
            direct: true);
        var result = await client.LoadDirectAsync(kvNamespace, prefix, target, new LoadOptions
        {
            FirstLayer = destination.FirstLayer,
            LayerCount = destination.LayerCount,
            MaxBlocks = blocks,
            LayerLoaded = group.OnLayerLoaded,
        }, cancellationToken);
        group.ThrowIfCopyFailed();
        for (var i = 0; i < layers.Length; i++)
        {
            if (layers[i] is null)
            {
                group.Queue(destination.FirstLayer + i, result.LoadedBlocks);
            }
        }

        group.ThrowIfCopyFailed();
        return new GpuLoadResult(result.LoadedBlocks, blocks, result.FirstFailure, GpuLoadPath.GpuDirectRdma, layers!, started)
        {
            PathReason = $"GPUDirect RDMA: {reason}",
        };
    }

    /// <summary>Stops using the GPU: waits for queued copies, then frees the staging buffer, events and stream
    /// (and the context when <see cref="TryCreate"/> opened it).</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        try
        {
            CopyStream.Synchronize();
        }
        finally
        {
            staging.Dispose();
            foreach (var layerEvent in layerEvents)
            {
                layerEvent.Dispose();
            }

            started.Dispose();
            CopyStream.Dispose();
            oneLoad.Dispose();
            if (ownsContext)
            {
                Context.Dispose();
            }
        }
    }

    /// <summary>The per-layer callback of one client load: queues each layer's copy from staging and records its
    /// event. Runs on the client's receive threads, so it serialises its stream calls and keeps any driver
    /// failure to rethrow on the loading thread.</summary>
    /// <remarks>For a direct load there is nothing to copy: the layer's bytes are in device memory once its reads
    /// completed, and a flush makes them visible to work ordered after the layer's event.</remarks>
    private sealed class LayerGroup(GpuKvLoader loader, GpuKvDestination destination, Action<GpuLayerLoaded>? report,
        GpuLayerLoad?[] layers, Stopwatch clock, int groupFirst, int blocks, int chunk, bool direct = false)
    {
        private readonly Lock gate = new();
        private Exception? failure;

        public void OnLayerLoaded(LayerLoaded loaded)
        {
            try
            {
                Queue(loaded.Layer, loaded.UsableBlocks);
            }
            catch (Exception exception) when (exception is CudaException or ArgumentException)
            {
                lock (gate)
                {
                    failure ??= exception;
                }
            }
        }

        public void Queue(int layer, int usableBlocks)
        {
            var index = layer - destination.FirstLayer;
            var copyDone = loader.layerEvents[index];
            lock (gate)
            {
                if (layers[index] is not null)
                {
                    return;
                }

                if (direct)
                {
                    loader.Context.FlushGpuDirectRdmaWrites();
                }
                else if (usableBlocks > 0)
                {
                    var source = loader.staging.Address + (nint)((long)(index - groupFirst) * blocks * chunk);
                    loader.CopyStream.CopyToDeviceAddressAsync(destination.LayerAddress(layer), source, (ulong)usableBlocks * (ulong)chunk);
                }

                loader.CopyStream.Record(copyDone);
                layers[index] = new GpuLayerLoad(layer, usableBlocks, clock.Elapsed, copyDone);
            }

            report?.Invoke(new GpuLayerLoaded(layer, usableBlocks, copyDone));
        }

        public void ThrowIfCopyFailed()
        {
            lock (gate)
            {
                if (failure is not null)
                {
                    throw new CudaException($"Queuing a layer's copy to the GPU failed: {failure.Message}", failure);
                }
            }
        }
    }
}
