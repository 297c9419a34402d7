using System.Net;
using KvTier.BlockDirectory;
using KvTier.BlockDirectory.InProcess;
using KvTier.BlockDirectory.Redis;
using KvTier.Node.Configuration;
using KvTier.Node.Http;
using KvTier.Node.Metrics;
using KvTier.Node.Security;
using KvTier.Rdma;
using KvTier.Storage;
using KvTier.Transport;
using KvTier.Transport.Tcp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace KvTier.Node.Hosting;

/// <summary>
/// One cache node, composed from <see cref="NodeOptions"/>: the storage engine, the directory registration and its
/// heartbeat, the publisher that mirrors committed and removed blocks into the directory, the data-plane listener,
/// and the control plane, metrics and health endpoints. <c>StartAsync</c> brings it to
/// <see cref="NodeLifecycle.Serving"/>; <see cref="DrainAsync"/> takes it to <see cref="NodeLifecycle.Stopped"/>.
/// </summary>
public sealed class NodeHost : IAsyncDisposable
{
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopping = new();
    private readonly TaskCompletionSource stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim drainGate = new(1, 1);
    private IFrameHandler? handler;
    private FrameServer? dataPlane;
    private WebApplication? web;
    private Task? heartbeat;
    private RdmaContext? rdmaContext;
    private int state = (int)NodeLifecycle.Starting;
    private int directoryReachable;

    private NodeHost(NodeOptions options, IBlockDirectory directory, ILoggerFactory loggerFactory, NodeTls? tls, TenantTokens? tokens)
    {
        Options = options;
        Directory = directory;
        LoggerFactory = loggerFactory;
        Tls = tls;
        Tokens = tokens;
        logger = loggerFactory.CreateLogger("KvTier.Node");
        Publisher = new DirectoryPublisher(directory, Anchors, Metrics, loggerFactory.CreateLogger("KvTier.Node.Publisher"));
        RequestMetrics = DataPlaneRequestMetrics.Register(Metrics);
    }

    /// <summary>The validated settings.</summary>
    public NodeOptions Options { get; }

    /// <summary>The node's blocks.</summary>
    public IBlockStore Store { get; private set; } = null!;

    /// <summary>Where the node publishes its blocks and heartbeats.</summary>
    public IBlockDirectory Directory { get; }

    /// <summary>Namespaces the data plane serves.</summary>
    public NamespaceRegistry Namespaces { get; } = new();

    /// <summary>Directory anchors of the blocks held (the write path records them before committing).</summary>
    public BlockAnchorBook Anchors { get; } = new();

    /// <summary>The node's Prometheus metrics.</summary>
    public MetricsRegistry Metrics { get; } = new();

    /// <summary>Mirrors block changes into the directory.</summary>
    public DirectoryPublisher Publisher { get; }

    /// <summary>Per-opcode latency, status and byte counts of the data plane.</summary>
    public DataPlaneRequestMetrics RequestMetrics { get; }

    /// <summary>The certificate and client policy both planes use; null without TLS.</summary>
    public NodeTls? Tls { get; }

    /// <summary>The bearer tokens accepted; null without authentication.</summary>
    public TenantTokens? Tokens { get; }

    /// <summary>The record registered in the directory (addresses, capacity, epoch).</summary>
    public NodeInfo Info { get; private set; } = null!;

    /// <summary>Whether this machine can serve RDMA, and why not.</summary>
    public RdmaCapabilityReport Rdma { get; private set; } = null!;

    /// <summary>The arena served over RDMA (queue pair per client, ConnectRdma); null when the node serves TCP only.</summary>
    public RdmaArenaServer? RdmaServer { get; private set; }

    /// <summary>Why clients use TCP with this node, or which device serves its arena over RDMA (logs, GetNodeInfo).</summary>
    public string RdmaStatus { get; private set; } = "not started";

    /// <summary>Where the data plane listens.</summary>
    public IPEndPoint DataPlaneEndPoint => dataPlane?.LocalEndPoint ?? throw new InvalidOperationException("The node has not started.");

    /// <summary>Where the gRPC control plane listens.</summary>
    public IPEndPoint ControlPlaneEndPoint { get; private set; } = null!;

    /// <summary>Where /metrics, /healthz and /readyz listen.</summary>
    public IPEndPoint HttpEndPoint { get; private set; } = null!;

    /// <summary>The node's state.</summary>
    public NodeLifecycle State => (NodeLifecycle)Volatile.Read(ref state);

    /// <summary>Whether the last directory heartbeat (or registration) succeeded.</summary>
    public bool DirectoryReachable => Volatile.Read(ref directoryReachable) == 1;

    /// <summary>Completes when the node has stopped (after a drain, requested by a signal or by the control plane).</summary>
    public Task Stopped => stopped.Task;

    internal ILoggerFactory LoggerFactory { get; }

    /// <summary>Starts a node and returns once it serves and is registered in the directory.</summary>
    /// <param name="options">Settings (validated here; every problem is listed in the exception).</param>
    /// <param name="handlerFactory">Builds the data-plane handler over the node's store and namespaces.</param>
    /// <param name="loggerFactory">Where the node logs.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public static Task<NodeHost> StartAsync(NodeOptions options, Func<IBlockStore, NamespaceRegistry, IFrameHandler> handlerFactory,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handlerFactory);
        return StartAsync(options, (store, namespaces, _) => handlerFactory(store, namespaces), loggerFactory, cancellationToken);
    }

    /// <summary>Starts a node whose data-plane handler also gets the anchor book, so its write path can record each
    /// block's directory anchor before committing (without it, stored blocks are not published).</summary>
    /// <param name="options">Settings (validated here; every problem is listed in the exception).</param>
    /// <param name="handlerFactory">Builds the data-plane handler over the node's store, namespaces and anchor book.
    /// With authentication on it is called once per tenant, on the tenant's first request: each tenant's handler keeps
    /// its own lease and reservation tables, so handles cannot cross tenants.</param>
    /// <param name="loggerFactory">Where the node logs.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="InvalidDataException">A TLS file, the tokens file or the namespaces file is unusable; the
    /// message names it.</exception>
    public static async Task<NodeHost> StartAsync(NodeOptions options, Func<IBlockStore, NamespaceRegistry, BlockAnchorBook, IFrameHandler> handlerFactory,
        ILoggerFactory loggerFactory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handlerFactory);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        NodeOptionsValidator.ThrowIfInvalid(options);
        var tokens = options.Auth.Enabled ? TenantTokens.Load(options.Auth.TokensFile!) : null;
        var tls = options.Tls.Enabled ? NodeTls.Load(options.Tls) : null;
        IBlockDirectory directory;
        try
        {
            directory = await OpenDirectoryAsync(options, loggerFactory);
        }
        catch
        {
            tls?.Dispose();
            throw;
        }

        var host = new NodeHost(options, directory, loggerFactory, tls, tokens);
        try
        {
            await host.StartCoreAsync(handlerFactory, cancellationToken);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>The storage engine's settings for the node's options.</summary>
    public static StorageOptions ToStorageOptions(NodeOptions options, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        var nvme = string.IsNullOrWhiteSpace(options.Storage.NvmeDirectory) ? null : options.Storage.NvmeDirectory;
        // Segments of 256 MiB (fewer, for small tiers: at least four segments so cleaning has room to work); a segment
        // must hold the largest block with its header, so small tiers also accept smaller blocks.
        var segment = Math.Min(256L << 20, options.Storage.NvmeSize.Bytes / 4);
        var maxBlock = nvme is null ? 64 << 20 : (int)Math.Min(64L << 20, segment / 2);
        return new StorageOptions
        {
            HostArenaBytes = options.Storage.ArenaSize.Bytes,
            TryHugeTlb = options.Storage.HugePages,
            TryLockMemory = options.Storage.LockMemory,
            NvmeDirectory = nvme,
            NvmeCapacityBytes = options.Storage.NvmeSize.Bytes,
            NvmeSegmentBytes = segment,
            MaxBlockBytes = maxBlock,
            MaxLeaseTimeout = options.Timing.MaxLease,
            MaxReservationTimeout = options.Timing.MaxReservation,
            SharedMemoryDirectory = string.IsNullOrWhiteSpace(options.SharedMemory.Directory) ? null : options.SharedMemory.Directory,
            SharedMemoryOwner = options.NodeId,
            SharedMemoryGroupWrites = options.SharedMemory.AllowWrites,
            Logger = logger,
        };
    }

    /// <summary>
    /// Drains: refuses new writes, leaves the directory (so clients stop choosing this node), waits until no read
    /// lease is live or <paramref name="timeout"/> (default <see cref="TimingOptions.DrainTimeout"/>) passes, then
    /// closes the data plane and the clients' RDMA queue pairs. Idempotent; concurrent calls wait for the first.
    /// </summary>
    public async Task DrainAsync(TimeSpan? timeout = null)
    {
        await drainGate.WaitAsync();
        try
        {
            if (State is NodeLifecycle.Draining or NodeLifecycle.Stopped)
            {
                return;
            }

            Volatile.Write(ref state, (int)NodeLifecycle.Draining);
            var limit = timeout ?? Options.Timing.DrainTimeout;
            logger.LogInformation("Draining node {NodeId}: refusing writes, waiting up to {Timeout} for in-flight reads", Options.NodeId, limit);
            (handler as IDrainableFrameHandler)?.StopAcceptingWrites();
            await stopping.CancelAsync();
            if (heartbeat is not null)
            {
                await heartbeat;
            }

            try
            {
                await Directory.DeregisterNodeAsync(Info.Id);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                logger.LogWarning("Could not deregister from the directory (the heartbeat will lapse instead): {Reason}", error.Message);
            }

            var deadline = DateTime.UtcNow + limit;
            while (Store.GetStats().ActiveLeases > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            var leftOver = Store.GetStats().ActiveLeases;
            if (leftOver > 0)
            {
                logger.LogWarning("Drain timeout: closing the data plane with {Leases} read leases still live", leftOver);
            }

            if (dataPlane is not null)
            {
                await dataPlane.DisposeAsync();
                dataPlane = null;
            }

            // No lease is left, so no client has a reason to reach the arena one-sidedly any more.
            var queuePairs = RdmaServer?.DisconnectAll() ?? 0;
            if (queuePairs > 0)
            {
                logger.LogInformation("Disconnected {Count} RDMA queue pairs", queuePairs);
            }

            Volatile.Write(ref state, (int)NodeLifecycle.Stopped);
            logger.LogInformation("Node {NodeId} drained and stopped", Options.NodeId);
            stopped.TrySetResult();
        }
        finally
        {
            drainGate.Release();
        }
    }

    /// <summary>Drains (if still serving) and releases everything.</summary>
    public async ValueTask DisposeAsync()
    {
        if (State == NodeLifecycle.Serving)
        {
            await DrainAsync(TimeSpan.Zero);
        }

        await stopping.CancelAsync();
        if (heartbeat is not null)
        {
            await heartbeat;
        }

        if (dataPlane is not null)
        {
            await dataPlane.DisposeAsync();
        }

        if (web is not null)
        {
            await web.StopAsync();
            await web.DisposeAsync();
        }

        await Publisher.DisposeAsync();
        RdmaServer?.Dispose(); // queue pairs and the arena's registration go before the arena itself
        rdmaContext?.Dispose();
        Store?.Dispose();
        Anchors.Dispose();
        await Directory.DisposeAsync();
        Tls?.Dispose();
        Volatile.Write(ref state, (int)NodeLifecycle.Stopped);
        stopped.TrySetResult();
        stopping.Dispose();
        drainGate.Dispose();
    }

    private static async Task<IBlockDirectory> OpenDirectoryAsync(NodeOptions options, ILoggerFactory loggerFactory) =>
        options.Directory.Kind == "redis"
            ? await RedisBlockDirectory.ConnectAsync(
                new RedisDirectoryOptions { Endpoints = options.Directory.Redis!, KeyPrefix = options.Directory.KeyPrefix },
                loggerFactory.CreateLogger("KvTier.Directory"))
            : new InProcessBlockDirectory();

    private async Task StartCoreAsync(Func<IBlockStore, NamespaceRegistry, BlockAnchorBook, IFrameHandler> handlerFactory, CancellationToken cancellationToken)
    {
        Rdma = RdmaCapability.Detect();
        var engine = StorageEngine.Open(ToStorageOptions(Options, LoggerFactory.CreateLogger("KvTier.Storage")), Publisher);
        Store = engine;
        StartRdma(engine);
        var recovered = Store.EnumerateBlocks();
        if (!string.IsNullOrWhiteSpace(Options.Storage.NvmeDirectory))
        {
            Anchors.OpenFile(Options.Storage.NvmeDirectory, recovered.Select(block => block.Id));
            var restored = Namespaces.OpenFile(Options.Storage.NvmeDirectory);
            logger.LogInformation("Serving {Count} namespaces restored from {File}", restored, Namespaces.FilePath);
        }

        WarnIfCertificateOutOfDate();
        handler = Tokens is null
            ? handlerFactory(Store, Namespaces, Anchors)
            : new TenantFrameHandler(() => handlerFactory(Store, Namespaces, Anchors), LoggerFactory.CreateLogger("KvTier.DataPlane.Auth"));
        dataPlane = new FrameServer(new IPEndPoint(IPAddress.Parse(Options.DataPlane.Host), Options.DataPlane.Port), handler,
            new FrameServerOptions
            {
                Limits = new FrameLimits { MaxBodyBytes = (int)Options.DataPlane.MaxFrameBody.Bytes, MaxBlocksPerRequest = Options.DataPlane.MaxBlocksPerRequest },
                MaxConnections = Options.DataPlane.MaxConnections,
                Tls = Tls?.DataPlane(),
                Authenticator = Tokens,
                Observer = RequestMetrics,
                Instance = Store.SharedArena?.Instance ?? Guid.NewGuid(),
            },
            LoggerFactory.CreateLogger("KvTier.DataPlane"));
        NodeMetrics.RegisterStorage(Metrics, Store.GetStats, () => dataPlane?.OpenConnections ?? 0);
        NodeMetrics.RegisterRdma(Metrics, () => RdmaServer);
        NodeMetrics.RegisterSharedMemory(Metrics, Store.SharedArena is not null);
        NodeMetrics.RegisterDataPlane(Metrics, () => dataPlane);

        web = NodeWebHost.Build(this);
        await web.StartAsync(cancellationToken);
        (ControlPlaneEndPoint, HttpEndPoint) = NodeWebHost.BoundEndPoints(web);

        var stats = Store.GetStats();
        var capacity = stats.HostCapacityBytes + stats.NvmeCapacityBytes;
        Info = new NodeInfo(
            NodeIdentity.ToNodeId(Options.NodeId),
            NodeIdentity.NewEpoch(TimeProvider.System),
            $"{NodeIdentity.AdvertisedHost(Options, Options.DataPlane)}:{dataPlane.LocalEndPoint.Port}",
            $"{NodeIdentity.AdvertisedHost(Options, Options.ControlPlane)}:{ControlPlaneEndPoint.Port}",
            SupportsRdma: RdmaServer is not null,
            capacity,
            FreeBytes(stats, capacity));
        try
        {
            await Directory.RegisterNodeAsync(Info, HeartbeatTtl, cancellationToken);
            Volatile.Write(ref directoryReachable, 1);
        }
        catch (Exception error) when (error is not OperationCanceledException and not ArgumentException)
        {
            // The directory is a hint: serve anyway, stay not-ready, and let the heartbeat loop register once it answers.
            logger.LogWarning("Directory unreachable at start; not ready until a heartbeat registers the node: {Reason}", error.Message);
        }

        Publisher.Node = Info.Id;
        Publisher.Epoch = Info.Epoch;
        foreach (var block in recovered)
        {
            Publisher.Republish(block);
        }

        Publisher.Start();
        dataPlane.Start();
        heartbeat = Task.Run(HeartbeatLoopAsync, CancellationToken.None);
        Volatile.Write(ref state, (int)NodeLifecycle.Serving);
        logger.LogInformation(
            "Node {NodeId} ({DirectoryId}, epoch {Epoch}) serving: data plane {DataPlane}, control plane {ControlPlane}, http {Http}, {Recovered} recovered blocks re-published, RDMA: {Rdma}",
            Options.NodeId, Info.Id, Info.Epoch, DataPlaneEndPoint, ControlPlaneEndPoint, HttpEndPoint, recovered.Count, RdmaStatus);
    }

    /// <summary>Registers the arena once with the configured RDMA device (default: the first), so clients can read and
    /// write it one-sidedly; any failure leaves the node on TCP with the reason logged.</summary>
    private void StartRdma(StorageEngine engine)
    {
        if (!Options.Rdma.Enabled)
        {
            RdmaStatus = "TCP only: RDMA is turned off by configuration (Rdma:Enabled = false)";
            return;
        }

        if (!Rdma.IsAvailable)
        {
            RdmaStatus = $"TCP only: {Rdma.Reason.Split('\n')[0]}";
            return;
        }

        // One-sided access is scoped by the rkey, which covers the whole arena, and RDMA traffic is not encrypted:
        // with tokens or TLS the node serves RDMA only where the operator said the fabric is trusted.
        if (Tokens is not null && !Options.Rdma.AllowTenants)
        {
            RdmaStatus = "TCP only: tenant tokens are on, and a queue pair could read any tenant's blocks in the arena by its rkey; " +
                         "set Rdma:AllowTenants = true if this node's tenants share one trust domain on the RDMA fabric (docs/rdma.md)";
            return;
        }

        if (Tls is not null && !Options.Rdma.AllowWithTls)
        {
            RdmaStatus = "TCP only: TLS is on, and RDMA would carry block bytes unencrypted; " +
                         "set Rdma:AllowWithTls = true if the RDMA fabric is trusted (docs/rdma.md)";
            return;
        }

        RdmaContext? context = null;
        try
        {
            context = RdmaContext.Open(Options.Rdma.Device, (uint)Options.Rdma.Port, Options.Rdma.GidIndex);
            RdmaServer = new RdmaArenaServer(context, engine.ArenaAddress, (ulong)engine.ArenaLength);
            rdmaContext = context;
            RdmaStatus = $"RDMA: {engine.ArenaLength} arena bytes registered on port {context.Port.PortNumber} " +
                         $"(GID index {context.Port.GidIndex}, MTU {context.Port.ActiveMtu})" +
                         (Tokens is null ? string.Empty : "; offered to token holders (Rdma:AllowTenants: one trust domain on the fabric)") +
                         (Tls is null ? string.Empty : "; RDMA traffic is not encrypted (Rdma:AllowWithTls)");
        }
        catch (RdmaException error)
        {
            context?.Dispose();
            RdmaStatus = $"TCP only: an RDMA device is present but the arena could not be served over it: {error.Message}";
            logger.LogWarning("{RdmaStatus}", RdmaStatus);
        }
    }

    private void WarnIfCertificateOutOfDate()
    {
        if (Tls is null)
        {
            return;
        }

        var now = DateTime.Now;
        if (now > Tls.Certificate.NotAfter || now < Tls.Certificate.NotBefore)
        {
            // Serve anyway (clients refuse the handshake with a message naming the expiry), but say it loudly here.
            logger.LogError("TLS certificate {Subject} is outside its validity period ({NotBefore} to {NotAfter}): clients will refuse it",
                Tls.Certificate.Subject, Tls.Certificate.NotBefore, Tls.Certificate.NotAfter);
        }
    }

    private void RepublishAll()
    {
        var blocks = Store.EnumerateBlocks();
        foreach (var block in blocks)
        {
            Publisher.Republish(block);
        }

        logger.LogInformation("Re-publishing {Count} blocks", blocks.Count);
    }

    private TimeSpan HeartbeatTtl => Options.Directory.HeartbeatInterval * 3;

    private static long FreeBytes(StorageStats stats, long capacity) =>
        Math.Clamp(capacity - stats.HostBytes - stats.NvmeBytes, 0, capacity);

    private async Task HeartbeatLoopAsync()
    {
        using var timer = new PeriodicTimer(Options.Directory.HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping.Token))
            {
                try
                {
                    var free = FreeBytes(Store.GetStats(), Info.CapacityBytes);
                    var republish = false;
                    if (!await Directory.HeartbeatAsync(Info.Id, free, HeartbeatTtl, stopping.Token))
                    {
                        // Lapsed (a long pause, or the directory lost its data, e.g. a Redis restart without
                        // persistence): register again under the same epoch and publish everything held again.
                        logger.LogWarning("Directory heartbeat found the node unregistered; registering again");
                        await Directory.RegisterNodeAsync(Info with { FreeBytes = free }, HeartbeatTtl, stopping.Token);
                        republish = true;
                    }

                    if (Interlocked.Exchange(ref directoryReachable, 1) == 0)
                    {
                        // Publications made during the outage were dropped; the node is the truth, so send them again.
                        logger.LogInformation("Directory reachable again");
                        republish = true;
                    }

                    if (republish)
                    {
                        RepublishAll();
                    }
                }
                catch (Exception error) when (error is not OperationCanceledException)
                {
                    if (Interlocked.Exchange(ref directoryReachable, 0) == 1)
                    {
                        logger.LogWarning("Directory heartbeat failed; not ready until it succeeds: {Reason}", error.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
