/*
 * kvtier_rdma: the small C shim between KvTier's C# RDMA binding and libibverbs.
 *
 * Why it exists: ibv_post_send, ibv_post_recv, ibv_poll_cq and ibv_req_notify_cq are static inline in
 * <infiniband/verbs.h>, so they cannot be reached by P/Invoke, and rdma-core's structs are not a stable ABI
 * to mirror from C#. This library exports only kvt_* functions with fixed-width types and its own structs.
 *
 * Conventions: every function that can fail returns 0 (or a count) on success and -errno on failure.
 * libibverbs.so.1 is loaded lazily on first use; where it is missing, kvt_load() returns -ENOENT and
 * everything else still works over TCP. Objects are single-owner: a QP must be destroyed before its CQs,
 * and every object before its context. One thread posts to a given QP at a time; one thread polls a CQ.
 */
#ifndef KVTIER_RDMA_H
#define KVTIER_RDMA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(KVT_BUILDING_LIBRARY)
#define KVT_API __attribute__((visibility("default")))
#else
#define KVT_API
#endif

/* Bumped whenever a struct below or a function signature changes. The C# binding refuses other versions. */
#define KVT_ABI_VERSION 1u

#define KVT_DEVICE_NAME_BYTES 64u

typedef struct kvt_context kvt_context;
typedef struct kvt_mr kvt_mr;
typedef struct kvt_cq kvt_cq;
typedef struct kvt_channel kvt_channel;
typedef struct kvt_qp kvt_qp;

/* Which struct kvt_struct_size reports. */
enum kvt_struct_id {
    KVT_STRUCT_DEVICE_INFO = 1,
    KVT_STRUCT_PORT_INFO = 2,
    KVT_STRUCT_MR_INFO = 3,
    KVT_STRUCT_ENDPOINT = 4,
    KVT_STRUCT_CONNECT_OPTIONS = 5,
    KVT_STRUCT_RDMA_OP = 6,
    KVT_STRUCT_COMPLETION = 7,
};

typedef struct kvt_device_info {
    char name[KVT_DEVICE_NAME_BYTES]; /* NUL-terminated kernel device name, e.g. "mlx5_0", "rxe0" */
    uint64_t node_guid;               /* host byte order */
    uint32_t port_count;
    uint32_t transport_type;          /* ibv_transport_type: 0 = InfiniBand (also RoCE), 1 = iWARP */
} kvt_device_info;

enum kvt_link_layer { KVT_LINK_UNSPECIFIED = 0, KVT_LINK_INFINIBAND = 1, KVT_LINK_ETHERNET = 2 };
enum kvt_gid_type { KVT_GID_IB = 0, KVT_GID_ROCE_V1 = 1, KVT_GID_ROCE_V2 = 2, KVT_GID_UNKNOWN = 255 };

typedef struct kvt_port_info {
    uint8_t gid[16];
    uint32_t gid_index;
    uint32_t gid_type;      /* kvt_gid_type */
    uint32_t port;
    uint32_t state;         /* ibv_port_state: 4 = ACTIVE */
    uint32_t active_mtu;    /* bytes: 256..4096 */
    uint32_t link_layer;    /* kvt_link_layer */
    uint16_t lid;
    uint16_t reserved;
    uint32_t max_qp_wr;
    uint64_t max_mr_size;
} kvt_port_info;

enum kvt_access {
    KVT_ACCESS_LOCAL_WRITE = 1u << 0,
    KVT_ACCESS_REMOTE_WRITE = 1u << 1,
    KVT_ACCESS_REMOTE_READ = 1u << 2,
};

typedef struct kvt_mr_info {
    uint64_t address;  /* for a dma-buf region: the iova it was registered at */
    uint64_t length;
    uint32_t lkey;
    uint32_t rkey;
} kvt_mr_info;

/* Everything a peer needs to connect an RC queue pair to this one; plain data, serialisable as is. */
typedef struct kvt_endpoint {
    uint8_t gid[16];
    uint32_t qp_num;
    uint32_t psn;        /* 24 bits */
    uint16_t lid;
    uint8_t port;
    uint8_t gid_index;
    uint32_t mtu;        /* bytes: the path MTU the peer proposes (its active MTU) */
} kvt_endpoint;

typedef struct kvt_connect_options {
    uint32_t path_mtu;          /* bytes; 0 = min(local, remote active MTU) */
    uint8_t timeout;            /* local ACK timeout exponent: 4.096 us * 2^timeout; 0 = 14 (~67 ms) */
    uint8_t retry_count;        /* 0 = 6 (rdma_rxe retries forever at 7) */
    uint8_t rnr_retry;          /* 0 = 7 (infinite) */
    uint8_t max_rd_atomic;      /* outstanding RDMA READs; 0 = 16 (clamped to the device) */
    uint8_t service_level;
    uint8_t traffic_class;
    uint8_t hop_limit;          /* 0 = 64 */
    uint8_t min_rnr_timer;      /* 0 = 12 */
} kvt_connect_options;

enum kvt_opcode { KVT_OP_READ = 0, KVT_OP_WRITE = 1 };
enum kvt_op_flags { KVT_OP_SIGNALED = 1u << 0 };

/* One one-sided operation: READ copies remote -> local, WRITE copies local -> remote. */
typedef struct kvt_rdma_op {
    uint64_t wr_id;
    uint64_t local_address;   /* must lie inside the kvt_mr passed to kvt_qp_post */
    uint64_t remote_address;
    uint32_t length;
    uint32_t rkey;
    uint32_t opcode;          /* kvt_opcode */
    uint32_t flags;           /* kvt_op_flags; the last op of a batch is always signaled */
} kvt_rdma_op;

enum kvt_completion_status {
    KVT_WC_SUCCESS = 0,
    KVT_WC_LOCAL_LENGTH = 1,
    KVT_WC_LOCAL_PROTECTION = 2,
    KVT_WC_LOCAL_QP = 3,
    KVT_WC_FLUSHED = 4,           /* not executed because the QP went to the error state before it */
    KVT_WC_REMOTE_ACCESS = 5,     /* bad rkey, out of the remote region, or missing remote permission */
    KVT_WC_REMOTE_OPERATION = 6,
    KVT_WC_RETRY_EXCEEDED = 7,    /* peer unreachable */
    KVT_WC_RNR_RETRY_EXCEEDED = 8,
    KVT_WC_REMOTE_INVALID_REQUEST = 9,
    KVT_WC_OTHER = 10,            /* see raw_status */
};

typedef struct kvt_completion {
    uint64_t wr_id;
    uint32_t status;       /* kvt_completion_status */
    uint32_t raw_status;   /* ibv_wc_status, for logs */
    uint32_t opcode;       /* kvt_opcode, valid on success */
    uint32_t byte_len;
    uint32_t qp_num;
    uint32_t vendor_err;
} kvt_completion;

KVT_API uint32_t kvt_abi_version(void);
/* sizeof the struct named by id (kvt_struct_id), 0 for an unknown id; the binding checks its own layouts. */
KVT_API uint32_t kvt_struct_size(uint32_t id);
/* Loads libibverbs.so.1 once. 0, or -ENOENT when it is missing, -ENOSYS when an entry point is missing. */
KVT_API int32_t kvt_load(void);
/* Static description of the last failure on this thread (dlerror text, which verb failed); never NULL. */
KVT_API const char *kvt_last_error(void);

/* Fills up to capacity devices; *count receives how many exist. */
KVT_API int32_t kvt_probe(kvt_device_info *devices, uint32_t capacity, uint32_t *count);

/* Opens device `name` (NULL or "" = the first), port (0 = 1) and a protection domain.
 * gid_index < 0 selects a GID automatically: RoCE v2 with an IPv4-mapped address first, then any RoCE v2,
 * then index 0 (InfiniBand). */
KVT_API int32_t kvt_context_open(const char *name, uint32_t port, int32_t gid_index, kvt_context **out);
KVT_API int32_t kvt_context_port_info(kvt_context *context, kvt_port_info *out);
KVT_API int32_t kvt_context_close(kvt_context *context);

KVT_API int32_t kvt_mr_register(kvt_context *context, void *address, uint64_t length, uint32_t access, kvt_mr **out);
/* Registers device memory exported as a dma-buf (e.g. by cuMemGetHandleForAddressRange). */
KVT_API int32_t kvt_mr_register_dmabuf(kvt_context *context, int32_t fd, uint64_t offset, uint64_t length,
                                       uint64_t iova, uint32_t access, kvt_mr **out);
KVT_API int32_t kvt_mr_query(kvt_mr *mr, kvt_mr_info *out);
KVT_API int32_t kvt_mr_deregister(kvt_mr *mr);

KVT_API int32_t kvt_channel_create(kvt_context *context, kvt_channel **out);
KVT_API int32_t kvt_channel_destroy(kvt_channel *channel);
/* Waits up to timeout_ms (-1 = forever) for a completion event on any CQ of the channel, acknowledges it and
 * re-arms that CQ. 0 with *cq set, -ETIMEDOUT, -EINTR, or another -errno. Poll the CQ afterwards. */
KVT_API int32_t kvt_channel_wait(kvt_channel *channel, int32_t timeout_ms, kvt_cq **cq);

/* channel may be NULL (polling only). A CQ with a channel is armed once at creation. */
KVT_API int32_t kvt_cq_create(kvt_context *context, uint32_t entries, kvt_channel *channel, kvt_cq **out);
KVT_API int32_t kvt_cq_arm(kvt_cq *cq);
/* Returns the number of completions written (0..capacity) or -errno. */
KVT_API int32_t kvt_cq_poll(kvt_cq *cq, kvt_completion *completions, uint32_t capacity);
KVT_API int32_t kvt_cq_destroy(kvt_cq *cq);

/* A reliable-connected QP in INIT-ready state; max_send_wr bounds both the ops per kvt_qp_post and
 * the ops outstanding. Reads and writes need no receive queue. */
KVT_API int32_t kvt_qp_create(kvt_context *context, kvt_cq *send_cq, kvt_cq *recv_cq, uint32_t max_send_wr,
                              kvt_qp **out);
KVT_API int32_t kvt_qp_local_endpoint(kvt_qp *qp, kvt_endpoint *out);
/* INIT -> RTR -> RTS towards remote; options may be NULL for defaults. */
KVT_API int32_t kvt_qp_connect(kvt_qp *qp, const kvt_endpoint *remote, const kvt_connect_options *options);
/* Moves the QP to RESET so that kvt_qp_connect can be called again after an error. */
KVT_API int32_t kvt_qp_reset(kvt_qp *qp);
/* Posts count ops as one linked work-request list (one doorbell). Every local range is checked against
 * local's registered range first: a bad op fails the whole call with -ERANGE and nothing is posted.
 * *posted receives how many ops the provider accepted (all of them on success). */
KVT_API int32_t kvt_qp_post(kvt_qp *qp, kvt_mr *local, const kvt_rdma_op *ops, uint32_t count, uint32_t *posted);
KVT_API int32_t kvt_qp_destroy(kvt_qp *qp);

#ifdef __cplusplus
}
#endif
#endif
