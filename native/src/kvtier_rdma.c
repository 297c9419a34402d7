/* The exported kvt_* API on top of a kvt_verbs_ops table. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kvtier_rdma.h"
#include "verbs_ops.h"

struct kvt_context {
    const kvt_verbs_ops *ops;
    struct ibv_context *verbs;
    struct ibv_pd *pd;
    kvt_port_info port;
    uint32_t max_rd_atom; /* the device's max_qp_rd_atom: outstanding RDMA READs per QP */
};

struct kvt_mr {
    const kvt_verbs_ops *ops;
    struct ibv_mr *verbs;
    uint64_t address;
    uint64_t length;
};

struct kvt_channel {
    const kvt_verbs_ops *ops;
    struct ibv_comp_channel *verbs;
};

struct kvt_cq {
    const kvt_verbs_ops *ops;
    struct ibv_cq *verbs;
};

struct kvt_qp {
    const kvt_verbs_ops *ops;
    kvt_context *context;
    struct ibv_qp *verbs;
    uint32_t psn;
    uint32_t max_send_wr;
    uint32_t max_rd_atomic;
    struct ibv_send_wr *wrs; /* preallocated: the post path does not allocate */
    struct ibv_sge *sges;
};

static _Atomic(const kvt_verbs_ops *) installed_ops;
static __thread const char *last_error = "";

void kvt_set_error(const char *message) { last_error = message; }

void kvt_install_ops(const kvt_verbs_ops *ops) { atomic_store(&installed_ops, ops); }

static int current_ops(const kvt_verbs_ops **out)
{
    const kvt_verbs_ops *ops = atomic_load(&installed_ops);
    if (ops != NULL) {
        *out = ops;
        return 0;
    }
    return kvt_real_ops(out);
}

/* Verbs report failure through errno (or a positive return); never return 0 for a failure. */
static int32_t errno_or(int fallback)
{
    return errno > 0 ? -errno : -fallback;
}

static int32_t fail(const char *message, int32_t code)
{
    kvt_set_error(message);
    return code;
}

KVT_API uint32_t kvt_abi_version(void) { return KVT_ABI_VERSION; }

KVT_API uint32_t kvt_struct_size(uint32_t id)
{
    switch (id) {
    case KVT_STRUCT_DEVICE_INFO: return sizeof(kvt_device_info);
    case KVT_STRUCT_PORT_INFO: return sizeof(kvt_port_info);
    case KVT_STRUCT_MR_INFO: return sizeof(kvt_mr_info);
    case KVT_STRUCT_ENDPOINT: return sizeof(kvt_endpoint);
    case KVT_STRUCT_CONNECT_OPTIONS: return sizeof(kvt_connect_options);
    case KVT_STRUCT_RDMA_OP: return sizeof(kvt_rdma_op);
    case KVT_STRUCT_COMPLETION: return sizeof(kvt_completion);
    default: return 0;
    }
}

KVT_API int32_t kvt_load(void)
{
    const kvt_verbs_ops *ops;
    return current_ops(&ops);
}

KVT_API const char *kvt_last_error(void) { return last_error; }

KVT_API int32_t kvt_probe(kvt_device_info *devices, uint32_t capacity, uint32_t *count)
{
    const kvt_verbs_ops *ops;
    int32_t rc = current_ops(&ops);
    if (rc != 0)
        return rc;
    if (count == NULL || (devices == NULL && capacity > 0))
        return fail("kvt_probe: null argument", -EINVAL);
    int found = 0;
    errno = 0;
    struct ibv_device **list = ops->get_device_list(&found);
    if (list == NULL) {
        /* No kernel RDMA support (no /sys/class/infiniband) is "no devices", not an error. */
        if (errno == ENOSYS || errno == ENOENT || errno == 0) {
            *count = 0;
            return 0;
        }
        return fail("ibv_get_device_list failed", errno_or(EIO));
    }
    *count = (uint32_t)found;
    for (uint32_t i = 0; i < (uint32_t)found && i < capacity; i++) {
        kvt_device_info *info = &devices[i];
        memset(info, 0, sizeof *info);
        const char *name = ops->get_device_name(list[i]);
        strncpy(info->name, name ? name : "", KVT_DEVICE_NAME_BYTES - 1);
        info->node_guid = be64toh(ops->get_device_guid(list[i]));
        info->transport_type = (uint32_t)list[i]->transport_type;
        struct ibv_context *context = ops->open_device(list[i]);
        if (context != NULL) {
            struct ibv_device_attr attr;
            if (ops->query_device(context, &attr) == 0)
                info->port_count = attr.phys_port_cnt;
            ops->close_device(context);
        }
    }
    ops->free_device_list(list);
    return 0;
}

static uint32_t mtu_bytes(enum ibv_mtu mtu)
{
    return mtu >= IBV_MTU_256 && mtu <= IBV_MTU_4096 ? 128u << mtu : 0;
}

static enum ibv_mtu mtu_enum(uint32_t bytes)
{
    if (bytes >= 4096) return IBV_MTU_4096;
    if (bytes >= 2048) return IBV_MTU_2048;
    if (bytes >= 1024) return IBV_MTU_1024;
    if (bytes >= 512) return IBV_MTU_512;
    return IBV_MTU_256;
}

static int is_ipv4_mapped(const union ibv_gid *gid)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(gid->raw, prefix, sizeof prefix) == 0;
}

static int is_zero(const union ibv_gid *gid)
{
    static const uint8_t zero[16];
    return memcmp(gid->raw, zero, sizeof zero) == 0;
}

/* Picks the GID a RoCE v2 deployment wants (IPv4-mapped, routable) or index 0 on InfiniBand. */
static int32_t select_gid(kvt_context *context, uint8_t port, int table_size, int32_t requested)
{
    const kvt_verbs_ops *ops = context->ops;
    union ibv_gid gid;
    uint32_t type = KVT_GID_UNKNOWN;
    if (requested >= 0) {
        if (requested >= table_size)
            return fail("GID index beyond the port's GID table", -EINVAL);
        if (ops->query_gid(context->verbs, port, requested, &gid) != 0 || is_zero(&gid))
            return fail("GID index names an empty GID table entry", -ENODATA);
        ops->query_gid_type(context->verbs, port, requested, &type);
        context->port.gid_index = (uint32_t)requested;
        context->port.gid_type = type;
        memcpy(context->port.gid, gid.raw, 16);
        return 0;
    }
    int best = -1, best_rank = 0;
    uint32_t best_type = KVT_GID_UNKNOWN;
    union ibv_gid best_gid;
    for (int i = 0; i < table_size; i++) {
        if (ops->query_gid(context->verbs, port, i, &gid) != 0 || is_zero(&gid))
            continue;
        if (ops->query_gid_type(context->verbs, port, i, &type) != 0)
            type = KVT_GID_UNKNOWN;
        int rank = type == KVT_GID_ROCE_V2 ? (is_ipv4_mapped(&gid) ? 4 : 3) : (type == KVT_GID_IB ? 2 : 1);
        if (rank > best_rank) {
            best = i, best_rank = rank, best_type = type, best_gid = gid;
        }
    }
    if (best < 0)
        return fail("the port's GID table is empty (no IP address on the RoCE interface?)", -ENODATA);
    context->port.gid_index = (uint32_t)best;
    context->port.gid_type = best_type;
    memcpy(context->port.gid, best_gid.raw, 16);
    return 0;
}

KVT_API int32_t kvt_context_open(const char *name, uint32_t port, int32_t gid_index, kvt_context **out)
{
    const kvt_verbs_ops *ops;
    int32_t rc = current_ops(&ops);
    if (rc != 0)
        return rc;
    if (out == NULL)
        return fail("kvt_context_open: null out", -EINVAL);
    if (port == 0)
        port = 1;
    if (port > 255)
        return fail("port number beyond 255", -EINVAL);
    int found = 0;
    struct ibv_device **list = ops->get_device_list(&found);
    if (list == NULL || found == 0) {
        if (list != NULL)
            ops->free_device_list(list);
        return fail("no RDMA device", -ENODEV);
    }
    struct ibv_device *device = NULL;
    for (int i = 0; i < found && device == NULL; i++)
        if (name == NULL || name[0] == '\0' || strcmp(ops->get_device_name(list[i]), name) == 0)
            device = list[i];
    if (device == NULL) {
        ops->free_device_list(list);
        return fail("no RDMA device of that name", -ENODEV);
    }
    kvt_context *context = calloc(1, sizeof *context);
    if (context == NULL) {
        ops->free_device_list(list);
        return -ENOMEM;
    }
    context->ops = ops;
    errno = 0;
    context->verbs = ops->open_device(device);
    ops->free_device_list(list);
    if (context->verbs == NULL) {
        rc = fail("ibv_open_device failed", errno_or(EIO));
        goto free_context;
    }
    struct ibv_device_attr device_attr;
    struct ibv_port_attr port_attr;
    if ((rc = ops->query_device(context->verbs, &device_attr)) != 0) {
        rc = fail("ibv_query_device failed", rc > 0 ? -rc : errno_or(EIO));
        goto close_device;
    }
    if (port > device_attr.phys_port_cnt) {
        rc = fail("the device has no such port", -EINVAL);
        goto close_device;
    }
    memset(&port_attr, 0, sizeof port_attr);
    if ((rc = ops->query_port(context->verbs, (uint8_t)port, &port_attr)) != 0) {
        rc = fail("ibv_query_port failed", rc > 0 ? -rc : errno_or(EIO));
        goto close_device;
    }
    context->port.port = port;
    context->port.state = port_attr.state;
    context->port.active_mtu = mtu_bytes(port_attr.active_mtu);
    context->port.link_layer = port_attr.link_layer == IBV_LINK_LAYER_ETHERNET ? KVT_LINK_ETHERNET
                               : port_attr.link_layer == IBV_LINK_LAYER_INFINIBAND ? KVT_LINK_INFINIBAND
                                                                                   : KVT_LINK_UNSPECIFIED;
    context->port.lid = port_attr.lid;
    context->port.max_qp_wr = (uint32_t)device_attr.max_qp_wr;
    context->port.max_mr_size = device_attr.max_mr_size;
    context->max_rd_atom = (uint32_t)device_attr.max_qp_rd_atom;
    if ((rc = select_gid(context, (uint8_t)port, port_attr.gid_tbl_len, gid_index)) != 0)
        goto close_device;
    errno = 0;
    context->pd = ops->alloc_pd(context->verbs);
    if (context->pd == NULL) {
        rc = fail("ibv_alloc_pd failed", errno_or(ENOMEM));
        goto close_device;
    }
    *out = context;
    return 0;
close_device:
    ops->close_device(context->verbs);
free_context:
    free(context);
    return rc;
}

KVT_API int32_t kvt_context_port_info(kvt_context *context, kvt_port_info *out)
{
    if (context == NULL || out == NULL)
        return fail("kvt_context_port_info: null argument", -EINVAL);
    *out = context->port;
    return 0;
}

KVT_API int32_t kvt_context_close(kvt_context *context)
{
    if (context == NULL)
        return -EINVAL;
    int rc = context->ops->dealloc_pd(context->pd);
    if (rc != 0)
        return fail("ibv_dealloc_pd failed: objects of this context are still open", rc > 0 ? -rc : -EBUSY);
    rc = context->ops->close_device(context->verbs);
    free(context);
    return rc > 0 ? -rc : rc;
}

static int access_flags(uint32_t access)
{
    int flags = 0;
    if (access & KVT_ACCESS_LOCAL_WRITE) flags |= IBV_ACCESS_LOCAL_WRITE;
    /* Remote write requires local write in verbs. */
    if (access & KVT_ACCESS_REMOTE_WRITE) flags |= IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE;
    if (access & KVT_ACCESS_REMOTE_READ) flags |= IBV_ACCESS_REMOTE_READ;
    return flags;
}

static int32_t wrap_mr(kvt_context *context, struct ibv_mr *verbs, uint64_t address, uint64_t length, kvt_mr **out)
{
    kvt_mr *mr = calloc(1, sizeof *mr);
    if (mr == NULL) {
        context->ops->dereg_mr(verbs);
        return -ENOMEM;
    }
    mr->ops = context->ops;
    mr->verbs = verbs;
    mr->address = address;
    mr->length = length;
    *out = mr;
    return 0;
}

KVT_API int32_t kvt_mr_register(kvt_context *context, void *address, uint64_t length, uint32_t access, kvt_mr **out)
{
    if (context == NULL || address == NULL || out == NULL)
        return fail("kvt_mr_register: null argument", -EINVAL);
    if (length == 0 || (access & ~7u) != 0 || (uint64_t)(uintptr_t)address + length < (uint64_t)(uintptr_t)address)
        return fail("kvt_mr_register: empty range, wrapping range or unknown access bits", -EINVAL);
    errno = 0;
    struct ibv_mr *verbs = context->ops->reg_mr(context->pd, address, (size_t)length, access_flags(access));
    if (verbs == NULL)
        return fail("ibv_reg_mr failed (memlock limit? see docs/rdma.md)", errno_or(ENOMEM));
    return wrap_mr(context, verbs, (uint64_t)(uintptr_t)address, length, out);
}

KVT_API int32_t kvt_mr_register_dmabuf(kvt_context *context, int32_t fd, uint64_t offset, uint64_t length,
                                       uint64_t iova, uint32_t access, kvt_mr **out)
{
    if (context == NULL || out == NULL || fd < 0 || length == 0 || (access & ~7u) != 0 || iova + length < iova)
        return fail("kvt_mr_register_dmabuf: bad argument", -EINVAL);
    if (context->ops->reg_dmabuf_mr == NULL)
        return fail("libibverbs has no ibv_reg_dmabuf_mr (rdma-core older than 34)", -EOPNOTSUPP);
    errno = 0;
    struct ibv_mr *verbs =
        context->ops->reg_dmabuf_mr(context->pd, offset, (size_t)length, iova, fd, access_flags(access));
    if (verbs == NULL)
        return fail("ibv_reg_dmabuf_mr failed", errno_or(EOPNOTSUPP));
    return wrap_mr(context, verbs, iova, length, out);
}

KVT_API int32_t kvt_mr_query(kvt_mr *mr, kvt_mr_info *out)
{
    if (mr == NULL || out == NULL)
        return fail("kvt_mr_query: null argument", -EINVAL);
    out->address = mr->address;
    out->length = mr->length;
    out->lkey = mr->verbs->lkey;
    out->rkey = mr->verbs->rkey;
    return 0;
}

KVT_API int32_t kvt_mr_deregister(kvt_mr *mr)
{
    if (mr == NULL)
        return -EINVAL;
    int rc = mr->ops->dereg_mr(mr->verbs);
    if (rc != 0)
        return fail("ibv_dereg_mr failed", rc > 0 ? -rc : rc);
    free(mr);
    return 0;
}

KVT_API int32_t kvt_channel_create(kvt_context *context, kvt_channel **out)
{
    if (context == NULL || out == NULL)
        return fail("kvt_channel_create: null argument", -EINVAL);
    kvt_channel *channel = calloc(1, sizeof *channel);
    if (channel == NULL)
        return -ENOMEM;
    errno = 0;
    channel->ops = context->ops;
    channel->verbs = context->ops->create_comp_channel(context->verbs);
    if (channel->verbs == NULL) {
        free(channel);
        return fail("ibv_create_comp_channel failed", errno_or(ENOMEM));
    }
    *out = channel;
    return 0;
}

KVT_API int32_t kvt_channel_destroy(kvt_channel *channel)
{
    if (channel == NULL)
        return -EINVAL;
    int rc = channel->ops->destroy_comp_channel(channel->verbs);
    if (rc != 0)
        return fail("ibv_destroy_comp_channel failed: a CQ still uses it", rc > 0 ? -rc : rc);
    free(channel);
    return 0;
}

KVT_API int32_t kvt_channel_wait(kvt_channel *channel, int32_t timeout_ms, kvt_cq **cq)
{
    if (channel == NULL || cq == NULL)
        return fail("kvt_channel_wait: null argument", -EINVAL);
    struct pollfd fd = {.fd = channel->verbs->fd, .events = POLLIN};
    int ready = poll(&fd, 1, timeout_ms);
    if (ready < 0)
        return -errno;
    if (ready == 0)
        return -ETIMEDOUT;
    struct ibv_cq *verbs_cq = NULL;
    void *cq_context = NULL;
    if (channel->ops->get_cq_event(channel->verbs, &verbs_cq, &cq_context) != 0)
        return fail("ibv_get_cq_event failed", errno_or(EIO));
    channel->ops->ack_cq_events(verbs_cq, 1);
    kvt_cq *owner = cq_context;
    int rc = channel->ops->req_notify_cq(verbs_cq, 0);
    *cq = owner;
    return rc > 0 ? -rc : rc;
}

KVT_API int32_t kvt_cq_create(kvt_context *context, uint32_t entries, kvt_channel *channel, kvt_cq **out)
{
    if (context == NULL || out == NULL || entries == 0 || entries > INT32_MAX)
        return fail("kvt_cq_create: bad argument", -EINVAL);
    kvt_cq *cq = calloc(1, sizeof *cq);
    if (cq == NULL)
        return -ENOMEM;
    cq->ops = context->ops;
    errno = 0;
    cq->verbs = context->ops->create_cq(context->verbs, (int)entries, cq, channel ? channel->verbs : NULL, 0);
    if (cq->verbs == NULL) {
        free(cq);
        return fail("ibv_create_cq failed", errno_or(ENOMEM));
    }
    if (channel != NULL) {
        int rc = context->ops->req_notify_cq(cq->verbs, 0);
        if (rc != 0) {
            context->ops->destroy_cq(cq->verbs);
            free(cq);
            return fail("ibv_req_notify_cq failed", rc > 0 ? -rc : rc);
        }
    }
    *out = cq;
    return 0;
}

KVT_API int32_t kvt_cq_arm(kvt_cq *cq)
{
    if (cq == NULL)
        return -EINVAL;
    int rc = cq->ops->req_notify_cq(cq->verbs, 0);
    return rc > 0 ? -rc : rc;
}

static uint32_t map_status(enum ibv_wc_status status)
{
    switch (status) {
    case IBV_WC_SUCCESS: return KVT_WC_SUCCESS;
    case IBV_WC_LOC_LEN_ERR: return KVT_WC_LOCAL_LENGTH;
    case IBV_WC_LOC_PROT_ERR: return KVT_WC_LOCAL_PROTECTION;
    case IBV_WC_LOC_QP_OP_ERR: return KVT_WC_LOCAL_QP;
    case IBV_WC_WR_FLUSH_ERR: return KVT_WC_FLUSHED;
    case IBV_WC_REM_ACCESS_ERR: return KVT_WC_REMOTE_ACCESS;
    case IBV_WC_REM_OP_ERR: return KVT_WC_REMOTE_OPERATION;
    case IBV_WC_RETRY_EXC_ERR: return KVT_WC_RETRY_EXCEEDED;
    case IBV_WC_RNR_RETRY_EXC_ERR: return KVT_WC_RNR_RETRY_EXCEEDED;
    case IBV_WC_REM_INV_REQ_ERR: return KVT_WC_REMOTE_INVALID_REQUEST;
    default: return KVT_WC_OTHER;
    }
}

KVT_API int32_t kvt_cq_poll(kvt_cq *cq, kvt_completion *completions, uint32_t capacity)
{
    if (cq == NULL || (completions == NULL && capacity > 0))
        return -EINVAL;
    struct ibv_wc wc[32];
    uint32_t total = 0;
    while (total < capacity) {
        uint32_t want = capacity - total < 32 ? capacity - total : 32;
        int got = cq->ops->poll_cq(cq->verbs, (int)want, wc);
        if (got < 0)
            return fail("ibv_poll_cq failed", got < -1 ? got : -EIO);
        for (int i = 0; i < got; i++) {
            kvt_completion *c = &completions[total + (uint32_t)i];
            c->wr_id = wc[i].wr_id;
            c->status = map_status(wc[i].status);
            c->raw_status = (uint32_t)wc[i].status;
            /* The opcode is only defined for successful completions. */
            c->opcode = wc[i].status == IBV_WC_SUCCESS && wc[i].opcode == IBV_WC_RDMA_WRITE ? KVT_OP_WRITE
                                                                                              : KVT_OP_READ;
            c->byte_len = wc[i].byte_len;
            c->qp_num = wc[i].qp_num;
            c->vendor_err = wc[i].vendor_err;
        }
        total += (uint32_t)got;
        if ((uint32_t)got < want)
            break;
    }
    return (int32_t)total;
}

KVT_API int32_t kvt_cq_destroy(kvt_cq *cq)
{
    if (cq == NULL)
        return -EINVAL;
    int rc = cq->ops->destroy_cq(cq->verbs);
    if (rc != 0)
        return fail("ibv_destroy_cq failed: a QP still uses it", rc > 0 ? -rc : rc);
    free(cq);
    return 0;
}

KVT_API int32_t kvt_qp_create(kvt_context *context, kvt_cq *send_cq, kvt_cq *recv_cq, uint32_t max_send_wr,
                              kvt_qp **out)
{
    if (context == NULL || send_cq == NULL || out == NULL || max_send_wr == 0 || max_send_wr > 65536)
        return fail("kvt_qp_create: bad argument (max_send_wr must be 1..65536)", -EINVAL);
    if (context->port.max_qp_wr != 0 && max_send_wr > context->port.max_qp_wr)
        return fail("kvt_qp_create: max_send_wr beyond the device's max_qp_wr", -EINVAL);
    kvt_qp *qp = calloc(1, sizeof *qp);
    if (qp == NULL)
        return -ENOMEM;
    qp->wrs = calloc(max_send_wr, sizeof *qp->wrs);
    qp->sges = calloc(max_send_wr, sizeof *qp->sges);
    if (qp->wrs == NULL || qp->sges == NULL) {
        free(qp->wrs), free(qp->sges), free(qp);
        return -ENOMEM;
    }
    struct ibv_qp_init_attr attr = {
        .send_cq = send_cq->verbs,
        .recv_cq = (recv_cq ? recv_cq : send_cq)->verbs,
        .cap = {.max_send_wr = max_send_wr, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1},
        .qp_type = IBV_QPT_RC,
        .sq_sig_all = 0,
    };
    errno = 0;
    qp->verbs = context->ops->create_qp(context->pd, &attr);
    if (qp->verbs == NULL) {
        free(qp->wrs), free(qp->sges), free(qp);
        return fail("ibv_create_qp failed", errno_or(ENOMEM));
    }
    qp->ops = context->ops;
    qp->context = context;
    qp->max_send_wr = max_send_wr;
    uint32_t random_psn = 0;
    if (getrandom(&random_psn, sizeof random_psn, 0) != (ssize_t)sizeof random_psn)
        random_psn = (uint32_t)(uintptr_t)qp;
    qp->psn = random_psn & 0xffffffu;
    *out = qp;
    return 0;
}

KVT_API int32_t kvt_qp_local_endpoint(kvt_qp *qp, kvt_endpoint *out)
{
    if (qp == NULL || out == NULL)
        return fail("kvt_qp_local_endpoint: null argument", -EINVAL);
    memset(out, 0, sizeof *out);
    memcpy(out->gid, qp->context->port.gid, 16);
    out->qp_num = qp->verbs->qp_num;
    out->psn = qp->psn;
    out->lid = qp->context->port.lid;
    out->port = (uint8_t)qp->context->port.port;
    out->gid_index = (uint8_t)qp->context->port.gid_index;
    out->mtu = qp->context->port.active_mtu;
    return 0;
}

static int32_t modify(kvt_qp *qp, struct ibv_qp_attr *attr, int mask, const char *what)
{
    int rc = qp->ops->modify_qp(qp->verbs, attr, mask);
    if (rc != 0)
        return fail(what, rc > 0 ? -rc : errno_or(EINVAL));
    return 0;
}

KVT_API int32_t kvt_qp_connect(kvt_qp *qp, const kvt_endpoint *remote, const kvt_connect_options *options)
{
    if (qp == NULL || remote == NULL)
        return fail("kvt_qp_connect: null argument", -EINVAL);
    if (remote->psn > 0xffffffu || remote->qp_num == 0 || remote->qp_num > 0xffffffu)
        return fail("kvt_qp_connect: remote QP number or PSN out of range", -EINVAL);
    kvt_connect_options o = {0};
    if (options != NULL)
        o = *options;
    const kvt_port_info *port = &qp->context->port;
    uint32_t mtu = o.path_mtu ? o.path_mtu : port->active_mtu;
    if (o.path_mtu == 0 && remote->mtu != 0 && remote->mtu < mtu)
        mtu = remote->mtu;
    uint32_t device_rd_atom = qp->context->max_rd_atom ? qp->context->max_rd_atom : 1;
    uint32_t rd_atomic = o.max_rd_atomic ? o.max_rd_atomic : 16;
    if (rd_atomic > device_rd_atom)
        rd_atomic = device_rd_atom;

    struct ibv_qp_attr attr = {
        .qp_state = IBV_QPS_INIT,
        .pkey_index = 0,
        .port_num = (uint8_t)port->port,
        .qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_LOCAL_WRITE,
    };
    int32_t rc = modify(qp, &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS,
                        "modify QP to INIT failed");
    if (rc != 0)
        return rc;

    memset(&attr, 0, sizeof attr);
    attr.qp_state = IBV_QPS_RTR;
    attr.path_mtu = mtu_enum(mtu);
    attr.dest_qp_num = remote->qp_num;
    attr.rq_psn = remote->psn;
    attr.max_dest_rd_atomic = (uint8_t)rd_atomic;
    attr.min_rnr_timer = o.min_rnr_timer ? o.min_rnr_timer : 12;
    attr.ah_attr.port_num = (uint8_t)port->port;
    attr.ah_attr.sl = o.service_level;
    attr.ah_attr.dlid = remote->lid;
    if (port->link_layer == KVT_LINK_ETHERNET || !is_zero((const union ibv_gid *)remote->gid)) {
        attr.ah_attr.is_global = 1;
        memcpy(attr.ah_attr.grh.dgid.raw, remote->gid, 16);
        attr.ah_attr.grh.sgid_index = (uint8_t)port->gid_index;
        attr.ah_attr.grh.hop_limit = o.hop_limit ? o.hop_limit : 64;
        attr.ah_attr.grh.traffic_class = o.traffic_class;
    }
    rc = modify(qp, &attr,
                IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER,
                "modify QP to RTR failed (peer endpoint, GID index or MTU wrong?)");
    if (rc != 0)
        return rc;

    memset(&attr, 0, sizeof attr);
    attr.qp_state = IBV_QPS_RTS;
    attr.sq_psn = qp->psn;
    attr.timeout = o.timeout ? o.timeout : 14;
    /* 6, not 7: Soft-RoCE (rdma_rxe) treats a retry count of 7 as "retry forever", so a peer whose queue pair is
     * gone would never produce a completion there; 6 retries of the ACK timeout also bound the wait on a NIC. */
    attr.retry_cnt = o.retry_count ? o.retry_count : 6;
    attr.rnr_retry = o.rnr_retry ? o.rnr_retry : 7;
    attr.max_rd_atomic = (uint8_t)rd_atomic;
    rc = modify(qp, &attr,
                IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                    IBV_QP_MAX_QP_RD_ATOMIC,
                "modify QP to RTS failed");
    if (rc == 0)
        qp->max_rd_atomic = rd_atomic;
    return rc;
}

KVT_API int32_t kvt_qp_reset(kvt_qp *qp)
{
    if (qp == NULL)
        return -EINVAL;
    struct ibv_qp_attr attr = {.qp_state = IBV_QPS_RESET};
    return modify(qp, &attr, IBV_QP_STATE, "modify QP to RESET failed");
}

KVT_API int32_t kvt_qp_post(kvt_qp *qp, kvt_mr *local, const kvt_rdma_op *ops, uint32_t count, uint32_t *posted)
{
    if (posted != NULL)
        *posted = 0;
    if (qp == NULL || local == NULL || (ops == NULL && count > 0))
        return fail("kvt_qp_post: null argument", -EINVAL);
    if (count == 0)
        return 0;
    if (count > qp->max_send_wr)
        return fail("kvt_qp_post: more ops than the QP's max_send_wr", -EINVAL);
    /* Validate the whole batch before touching the send queue: a half-posted batch is harder to recover. */
    for (uint32_t i = 0; i < count; i++) {
        const kvt_rdma_op *op = &ops[i];
        if (op->opcode > KVT_OP_WRITE || (op->flags & ~(uint32_t)KVT_OP_SIGNALED) != 0)
            return fail("kvt_qp_post: unknown opcode or flag", -EINVAL);
        if (op->length == 0 || op->remote_address + op->length < op->remote_address)
            return fail("kvt_qp_post: empty or wrapping remote range", -EINVAL);
        uint64_t end = op->local_address + op->length;
        if (end < op->local_address || op->local_address < local->address ||
            end > local->address + local->length)
            return fail("kvt_qp_post: local range outside the registered region", -ERANGE);
    }
    for (uint32_t i = 0; i < count; i++) {
        const kvt_rdma_op *op = &ops[i];
        struct ibv_sge *sge = &qp->sges[i];
        struct ibv_send_wr *wr = &qp->wrs[i];
        sge->addr = op->local_address;
        sge->length = op->length;
        sge->lkey = local->verbs->lkey;
        memset(wr, 0, sizeof *wr);
        wr->wr_id = op->wr_id;
        wr->sg_list = sge;
        wr->num_sge = 1;
        wr->opcode = op->opcode == KVT_OP_READ ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
        wr->send_flags = (op->flags & KVT_OP_SIGNALED) || i + 1 == count ? IBV_SEND_SIGNALED : 0;
        wr->wr.rdma.remote_addr = op->remote_address;
        wr->wr.rdma.rkey = op->rkey;
        wr->next = i + 1 < count ? &qp->wrs[i + 1] : NULL;
    }
    struct ibv_send_wr *bad = NULL;
    int rc = qp->ops->post_send(qp->verbs, qp->wrs, &bad);
    if (rc != 0) {
        if (posted != NULL)
            *posted = bad != NULL ? (uint32_t)(bad - qp->wrs) : 0;
        return fail("ibv_post_send refused a work request (send queue full or QP not in RTS?)",
                    rc > 0 ? -rc : rc);
    }
    if (posted != NULL)
        *posted = count;
    return 0;
}

KVT_API int32_t kvt_qp_destroy(kvt_qp *qp)
{
    if (qp == NULL)
        return -EINVAL;
    int rc = qp->ops->destroy_qp(qp->verbs);
    if (rc != 0)
        return fail("ibv_destroy_qp failed", rc > 0 ? -rc : rc);
    free(qp->wrs), free(qp->sges), free(qp);
    return 0;
}
