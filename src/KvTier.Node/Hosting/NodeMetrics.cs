using KvTier.Node.Metrics;
using KvTier.Storage;
using KvTier.Transport.Tcp;

namespace KvTier.Node.Hosting;

/// <summary>Registers the node's storage gauges, read from one <see cref="StorageStats"/> snapshot per scrape.</summary>
internal static class NodeMetrics
{
    /// <summary>Storage counters and sizes, under the names docs/operations.md lists.</summary>
    public static void RegisterStorage(MetricsRegistry metrics, Func<StorageStats> stats, Func<int> connections)
    {
        // Each gauge reads a fresh snapshot; GetStats is a handful of interlocked reads, cheap next to a scrape.
        void Gauge(string name, string help, Func<StorageStats, double> read) => metrics.Gauge(name, help, () => read(stats()));
        void Count(string name, string help, Func<StorageStats, double> read) => metrics.CounterFrom(name, help, () => read(stats()));

        Count("kvtier_host_hits_total", "Reads served from the host arena.", s => s.HostHits);
        Count("kvtier_nvme_hits_total", "Reads that had to read the NVMe tier.", s => s.NvmeHits);
        Count("kvtier_misses_total", "Reads of blocks not stored.", s => s.Misses);
        Count("kvtier_host_evictions_total", "Blocks that left the arena for room.", s => s.HostEvictions);
        Count("kvtier_evictions_total", "Blocks that left the node for room.", s => s.Evictions);
        Count("kvtier_demotions_total", "Blocks written to NVMe on eviction.", s => s.Demotions);
        Count("kvtier_promotions_total", "NVMe blocks kept in the arena after a read.", s => s.Promotions);
        Count("kvtier_rejected_commits_total", "Commits refused for a checksum mismatch.", s => s.RejectedCommits);
        Count("kvtier_corrupt_reads_total", "Reads that found bad bytes; the block was dropped, never served.", s => s.CorruptReads);
        Count("kvtier_expired_leases_total", "Read leases that ran out before release.", s => s.ExpiredLeases);
        Count("kvtier_expired_reservations_total", "Reservations reclaimed uncommitted.", s => s.ExpiredReservations);
        Count("kvtier_nvme_write_errors_total", "NVMe writes the file system refused.", s => s.NvmeWriteErrors);
        Gauge("kvtier_recovered_blocks", "Blocks rebuilt from NVMe segments at start.", s => s.RecoveredBlocks);
        Gauge("kvtier_blocks", "Committed blocks held now (any tier).", s => s.Blocks);
        Gauge("kvtier_host_blocks", "Blocks with bytes in the host arena now.", s => s.HostBlocks);
        Gauge("kvtier_host_bytes", "Arena bytes allocated now.", s => s.HostBytes);
        Gauge("kvtier_host_capacity_bytes", "Arena size.", s => s.HostCapacityBytes);
        Gauge("kvtier_nvme_blocks", "Blocks with a live NVMe record now.", s => s.NvmeBlocks);
        Gauge("kvtier_nvme_bytes", "Live NVMe record bytes now.", s => s.NvmeBytes);
        Gauge("kvtier_nvme_capacity_bytes", "NVMe tier size.", s => s.NvmeCapacityBytes);
        Gauge("kvtier_active_leases", "Read leases live now.", s => s.ActiveLeases);
        Gauge("kvtier_arena_fragmentation", "1 - largest free extent / free arena bytes.", s => s.AllocatorFragmentation);
        metrics.Gauge("kvtier_data_plane_connections", "Data-plane connections open now.", () => connections());
    }

    /// <summary>Which transport the node serves its arena over (1 = RDMA as well as TCP, 0 = TCP only) and how many
    /// client queue pairs are connected.</summary>
    public static void RegisterRdma(MetricsRegistry metrics, Func<KvTier.Rdma.RdmaArenaServer?> server)
    {
        metrics.Gauge("kvtier_rdma_enabled", "1 when the arena is served over RDMA as well as TCP, 0 for TCP only.",
            () => server() is null ? 0 : 1);
        metrics.Gauge("kvtier_rdma_connections", "Client RDMA queue pairs connected now.", () => server()?.ConnectionCount ?? 0);
    }

    /// <summary>Whether the arena is shared with engines on this host (SharedMemory:Directory); how many map it shows as
    /// <c>kvtier_data_plane_requests_total{opcode="MapArena"}</c>.</summary>
    public static void RegisterSharedMemory(MetricsRegistry metrics, bool shared) =>
        metrics.Gauge("kvtier_shared_arena_enabled", "1 when the arena is shared through a file with clients on this host, 0 when it is private.",
            () => shared ? 1 : 0);

    /// <summary>Connections the data plane closed for a failed TLS handshake, a refused token, or a protocol violation.</summary>
    public static void RegisterDataPlane(MetricsRegistry metrics, Func<FrameServer?> server)
    {
        metrics.CounterFrom("kvtier_data_plane_tls_failures_total", "Data-plane connections closed for a failed TLS handshake (or plain text on a TLS node).",
            () => server()?.TlsFailures ?? 0);
        metrics.CounterFrom("kvtier_data_plane_auth_failures_total", "Data-plane connections closed for a missing or unknown bearer token.",
            () => server()?.AuthenticationFailures ?? 0);
        metrics.CounterFrom("kvtier_data_plane_protocol_violations_total", "Data-plane connections closed because the peer broke the protocol.",
            () => server()?.ProtocolViolations ?? 0);
    }
}
