#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_device.h"
#include "kvtier_rdma.h"

#define FAKE_MAX_OBJECTS 64
#define FAKE_CQ_DEPTH 4096

typedef struct fake_mr {
    struct ibv_mr mr;
    int access;
    int live;
} fake_mr;

typedef struct fake_cq {
    struct ibv_cq cq;
    struct ibv_wc entries[FAKE_CQ_DEPTH];
    uint32_t head, count;
    int armed;
    struct ibv_comp_channel *channel;
} fake_cq;

typedef struct fake_channel {
    struct ibv_comp_channel channel;
    struct ibv_cq *pending; /* the CQ whose event is waiting in the eventfd */
} fake_channel;

typedef struct fake_qp {
    struct ibv_qp qp;
    uint32_t peer;
    int access;
    int live;
} fake_qp;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ibv_device device = {.transport_type = IBV_TRANSPORT_IB, .name = "fake0"};
static struct ibv_device *device_list[2] = {&device, NULL};
static fake_mr mrs[FAKE_MAX_OBJECTS];
static fake_qp qps[FAKE_MAX_OBJECTS];
static uint64_t doorbells, work_requests;
static int32_t refuse_at = -1;
static uint32_t next_key = 0x100;
static const union ibv_gid fake_gid = {.raw = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}};

void kvt_fake_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(mrs, 0, sizeof mrs);
    memset(qps, 0, sizeof qps);
    doorbells = work_requests = 0;
    refuse_at = -1;
    pthread_mutex_unlock(&lock);
}

uint64_t kvt_fake_doorbells(void) { return doorbells; }
uint64_t kvt_fake_work_requests(void) { return work_requests; }
void kvt_fake_refuse_next_post_at(int32_t index) { refuse_at = index; }

static struct ibv_device **get_device_list(int *count)
{
    *count = 1;
    return device_list;
}

static void free_device_list(struct ibv_device **list) { (void)list; }
static const char *get_device_name(struct ibv_device *d) { return d->name; }
static uint64_t get_device_guid(struct ibv_device *d) { (void)d; return htobe64(0x0002c90300a1b2c3ull); }

static struct ibv_context *open_device(struct ibv_device *d)
{
    struct ibv_context *context = calloc(1, sizeof *context);
    if (context == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    context->device = d;
    context->async_fd = -1;
    return context;
}

static int close_device(struct ibv_context *context)
{
    free(context);
    return 0;
}

static int query_device(struct ibv_context *context, struct ibv_device_attr *attr)
{
    (void)context;
    memset(attr, 0, sizeof *attr);
    attr->phys_port_cnt = 1;
    attr->max_qp_wr = 1024;
    attr->max_qp_rd_atom = 16;
    attr->max_mr_size = UINT64_MAX;
    return 0;
}

static int query_port(struct ibv_context *context, uint8_t port, struct ibv_port_attr *attr)
{
    (void)context;
    if (port != 1)
        return EINVAL;
    memset(attr, 0, sizeof *attr);
    attr->state = IBV_PORT_ACTIVE;
    attr->active_mtu = IBV_MTU_1024;
    attr->max_mtu = IBV_MTU_4096;
    attr->link_layer = IBV_LINK_LAYER_ETHERNET;
    attr->gid_tbl_len = 4;
    return 0;
}

/* Like a RoCE port: index 0 is link-local (RoCE v1), 1 the IPv4-mapped RoCE v2 GID, the rest empty. */
static int query_gid(struct ibv_context *context, uint8_t port, int index, union ibv_gid *gid)
{
    (void)context, (void)port;
    memset(gid, 0, sizeof *gid);
    if (index == 0) {
        gid->raw[0] = 0xfe, gid->raw[1] = 0x80, gid->raw[15] = 1;
    } else if (index == 1) {
        *gid = fake_gid;
    } else if (index >= 4) {
        return EINVAL;
    }
    return 0;
}

static int query_gid_type(struct ibv_context *context, uint8_t port, int index, uint32_t *type)
{
    (void)context, (void)port;
    if (index > 1)
        return -ENODATA;
    *type = index == 0 ? KVT_GID_ROCE_V1 : KVT_GID_ROCE_V2;
    return 0;
}

static struct ibv_pd *alloc_pd(struct ibv_context *context)
{
    struct ibv_pd *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pd->context = context;
    return pd;
}

static int dealloc_pd(struct ibv_pd *pd)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < FAKE_MAX_OBJECTS; i++) {
        if ((mrs[i].live && mrs[i].mr.pd == pd) || (qps[i].live && qps[i].qp.pd == pd)) {
            pthread_mutex_unlock(&lock);
            return EBUSY;
        }
    }
    pthread_mutex_unlock(&lock);
    free(pd);
    return 0;
}

static struct ibv_mr *reg_mr(struct ibv_pd *pd, void *address, size_t length, int access)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < FAKE_MAX_OBJECTS; i++) {
        if (!mrs[i].live) {
            fake_mr *m = &mrs[i];
            memset(m, 0, sizeof *m);
            m->live = 1;
            m->access = access;
            m->mr.context = pd->context;
            m->mr.pd = pd;
            m->mr.addr = address;
            m->mr.length = length;
            m->mr.lkey = next_key++;
            m->mr.rkey = next_key++;
            pthread_mutex_unlock(&lock);
            return &m->mr;
        }
    }
    pthread_mutex_unlock(&lock);
    errno = ENOMEM;
    return NULL;
}

/* dma-buf registration (GPUDirect RDMA). The fake CUDA driver's "device memory" is host memory, so the iova (the
 * device address) is where the bytes are; the descriptor only has to be open, as the kernel checks it is. */
static struct ibv_mr *reg_dmabuf_mr(struct ibv_pd *pd, uint64_t offset, size_t length, uint64_t iova, int fd, int access)
{
    if (fd < 0 || fcntl(fd, F_GETFD) == -1) {
        errno = EBADF;
        return NULL;
    }
    (void)offset;
    return reg_mr(pd, (void *)(uintptr_t)iova, length, access);
}

static int dereg_mr(struct ibv_mr *mr)
{
    ((fake_mr *)mr)->live = 0;
    return 0;
}

static struct ibv_comp_channel *create_comp_channel(struct ibv_context *context)
{
    fake_channel *fake = calloc(1, sizeof *fake);
    if (fake == NULL)
        return NULL;
    struct ibv_comp_channel *channel = &fake->channel;
    channel->context = context;
    channel->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (channel->fd < 0) {
        free(channel);
        return NULL;
    }
    return channel;
}

static int destroy_comp_channel(struct ibv_comp_channel *channel)
{
    if (channel->refcnt != 0)
        return EBUSY;
    close(channel->fd);
    free(channel);
    return 0;
}

static struct ibv_cq *create_cq(struct ibv_context *context, int entries, void *cq_context,
                                struct ibv_comp_channel *channel, int vector)
{
    (void)vector;
    if (entries > FAKE_CQ_DEPTH) {
        errno = EINVAL;
        return NULL;
    }
    fake_cq *cq = calloc(1, sizeof *cq);
    if (cq == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    cq->cq.context = context;
    cq->cq.cq_context = cq_context;
    cq->cq.cqe = entries;
    cq->cq.channel = channel;
    cq->channel = channel;
    if (channel != NULL)
        channel->refcnt++;
    return &cq->cq;
}

static int destroy_cq(struct ibv_cq *cq)
{
    fake_cq *fake = (fake_cq *)cq;
    if (fake->channel != NULL)
        fake->channel->refcnt--;
    free(fake);
    return 0;
}

static int get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context)
{
    /* Tests use one CQ per channel, so remembering the last notified CQ names the event's CQ correctly. */
    uint64_t value;
    if (read(channel->fd, &value, sizeof value) != (ssize_t)sizeof value)
        return -1;
    *cq = ((fake_channel *)channel)->pending;
    *cq_context = (*cq)->cq_context;
    return 0;
}

static void ack_cq_events(struct ibv_cq *cq, unsigned int count) { (void)cq, (void)count; }

static int req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
    (void)solicited_only;
    ((fake_cq *)cq)->armed = 1;
    return 0;
}

static void push_completion(fake_cq *cq, const struct ibv_wc *wc)
{
    if (cq->count == FAKE_CQ_DEPTH)
        abort(); /* a CQ overrun is a test bug; real hardware would raise an async error */
    cq->entries[(cq->head + cq->count) % FAKE_CQ_DEPTH] = *wc;
    cq->count++;
    if (cq->armed && cq->channel != NULL) {
        uint64_t one = 1;
        cq->armed = 0;
        ((fake_channel *)cq->channel)->pending = &cq->cq;
        if (write(cq->channel->fd, &one, sizeof one) != (ssize_t)sizeof one)
            abort();
    }
}

static struct ibv_qp *create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < FAKE_MAX_OBJECTS; i++) {
        if (!qps[i].live) {
            fake_qp *q = &qps[i];
            memset(q, 0, sizeof *q);
            q->live = 1;
            q->qp.context = pd->context;
            q->qp.pd = pd;
            q->qp.send_cq = attr->send_cq;
            q->qp.recv_cq = attr->recv_cq;
            q->qp.qp_num = 0x10 + (uint32_t)i;
            q->qp.qp_type = attr->qp_type;
            q->qp.state = IBV_QPS_RESET;
            pthread_mutex_unlock(&lock);
            return &q->qp;
        }
    }
    pthread_mutex_unlock(&lock);
    errno = ENOMEM;
    return NULL;
}

static fake_qp *find_qp(uint32_t qp_num)
{
    for (int i = 0; i < FAKE_MAX_OBJECTS; i++)
        if (qps[i].live && qps[i].qp.qp_num == qp_num)
            return &qps[i];
    return NULL;
}

/* Enforces the verbs state machine for the transitions the shim uses. */
static int modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask)
{
    fake_qp *q = (fake_qp *)qp;
    if (!(mask & IBV_QP_STATE))
        return EINVAL;
    enum ibv_qp_state from = qp->state, to = attr->qp_state;
    int ok = to == IBV_QPS_RESET || to == IBV_QPS_ERR || (from == IBV_QPS_RESET && to == IBV_QPS_INIT) ||
             (from == IBV_QPS_INIT && to == IBV_QPS_RTR) || (from == IBV_QPS_RTR && to == IBV_QPS_RTS);
    if (!ok)
        return EINVAL;
    if (to == IBV_QPS_INIT)
        q->access = attr->qp_access_flags;
    if (to == IBV_QPS_RTR) {
        if (attr->path_mtu < IBV_MTU_256 || attr->path_mtu > IBV_MTU_4096 || attr->max_dest_rd_atomic == 0)
            return EINVAL;
        if (find_qp(attr->dest_qp_num) == NULL)
            return EINVAL; /* a real NIC accepts it and times out later; the fake fails fast */
        q->peer = attr->dest_qp_num;
    }
    qp->state = to;
    return 0;
}

static int destroy_qp(struct ibv_qp *qp)
{
    ((fake_qp *)qp)->live = 0;
    return 0;
}

static fake_mr *find_mr(uint32_t key, int remote, struct ibv_pd *pd)
{
    for (int i = 0; i < FAKE_MAX_OBJECTS; i++)
        if (mrs[i].live && mrs[i].mr.pd == pd && (remote ? mrs[i].mr.rkey : mrs[i].mr.lkey) == key)
            return &mrs[i];
    return NULL;
}

static int in_region(const fake_mr *m, uint64_t address, uint64_t length)
{
    uint64_t start = (uint64_t)(uintptr_t)m->mr.addr;
    return address >= start && address + length >= address && address + length <= start + m->mr.length;
}

static enum ibv_wc_status execute(fake_qp *q, const struct ibv_send_wr *wr)
{
    if (wr->num_sge != 1)
        return IBV_WC_LOC_QP_OP_ERR;
    const struct ibv_sge *sge = wr->sg_list;
    fake_mr *local = find_mr(sge->lkey, 0, q->qp.pd);
    if (local == NULL || !in_region(local, sge->addr, sge->length))
        return IBV_WC_LOC_PROT_ERR;
    fake_qp *peer = find_qp(q->peer);
    if (peer == NULL || peer->qp.state < IBV_QPS_RTR || peer->qp.state == IBV_QPS_ERR)
        return IBV_WC_RETRY_EXC_ERR;
    fake_mr *remote = find_mr(wr->wr.rdma.rkey, 1, peer->qp.pd);
    int needed = wr->opcode == IBV_WR_RDMA_READ ? IBV_ACCESS_REMOTE_READ : IBV_ACCESS_REMOTE_WRITE;
    if (remote == NULL || !(remote->access & needed) || !(peer->access & needed) ||
        !in_region(remote, wr->wr.rdma.remote_addr, sge->length))
        return IBV_WC_REM_ACCESS_ERR;
    void *local_bytes = (void *)(uintptr_t)sge->addr;
    void *remote_bytes = (void *)(uintptr_t)wr->wr.rdma.remote_addr;
    if (wr->opcode == IBV_WR_RDMA_READ)
        memmove(local_bytes, remote_bytes, sge->length);
    else
        memmove(remote_bytes, local_bytes, sge->length);
    return IBV_WC_SUCCESS;
}

static int post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    fake_qp *q = (fake_qp *)qp;
    pthread_mutex_lock(&lock);
    doorbells++;
    int32_t refuse = refuse_at;
    refuse_at = -1;
    int index = 0;
    for (; wr != NULL; wr = wr->next, index++) {
        if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR) {
            *bad = wr;
            pthread_mutex_unlock(&lock);
            return EINVAL;
        }
        if (index == refuse || (wr->opcode != IBV_WR_RDMA_READ && wr->opcode != IBV_WR_RDMA_WRITE)) {
            *bad = wr;
            pthread_mutex_unlock(&lock);
            return index == refuse ? ENOMEM : EINVAL;
        }
        work_requests++;
        enum ibv_wc_status status = qp->state == IBV_QPS_ERR ? IBV_WC_WR_FLUSH_ERR : execute(q, wr);
        if (status != IBV_WC_SUCCESS)
            qp->state = IBV_QPS_ERR;
        /* Unsignaled successes make no completion; errors and flushes always do, as on hardware. */
        if (status != IBV_WC_SUCCESS || (wr->send_flags & IBV_SEND_SIGNALED)) {
            struct ibv_wc wc = {
                .wr_id = wr->wr_id,
                .status = status,
                .opcode = wr->opcode == IBV_WR_RDMA_READ ? IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE,
                .byte_len = status == IBV_WC_SUCCESS && wr->opcode == IBV_WR_RDMA_READ ? wr->sg_list->length : 0,
                .qp_num = qp->qp_num,
            };
            push_completion((fake_cq *)qp->send_cq, &wc);
        }
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

static int poll_cq(struct ibv_cq *cq, int count, struct ibv_wc *wc)
{
    fake_cq *fake = (fake_cq *)cq;
    pthread_mutex_lock(&lock);
    int n = 0;
    for (; n < count && fake->count > 0; n++) {
        wc[n] = fake->entries[fake->head];
        fake->head = (fake->head + 1) % FAKE_CQ_DEPTH;
        fake->count--;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

static const kvt_verbs_ops fake_ops = {
    .get_device_list = get_device_list,
    .free_device_list = free_device_list,
    .get_device_name = get_device_name,
    .get_device_guid = get_device_guid,
    .open_device = open_device,
    .close_device = close_device,
    .query_device = query_device,
    .query_port = query_port,
    .query_gid = query_gid,
    .query_gid_type = query_gid_type,
    .alloc_pd = alloc_pd,
    .dealloc_pd = dealloc_pd,
    .reg_mr = reg_mr,
    .reg_dmabuf_mr = reg_dmabuf_mr,
    .dereg_mr = dereg_mr,
    .create_comp_channel = create_comp_channel,
    .destroy_comp_channel = destroy_comp_channel,
    .create_cq = create_cq,
    .destroy_cq = destroy_cq,
    .get_cq_event = get_cq_event,
    .ack_cq_events = ack_cq_events,
    .create_qp = create_qp,
    .modify_qp = modify_qp,
    .destroy_qp = destroy_qp,
    .post_send = post_send,
    .poll_cq = poll_cq,
    .req_notify_cq = req_notify_cq,
};

const kvt_verbs_ops *kvt_fake_ops(void) { return &fake_ops; }
