/* Resolves libibverbs.so.1 lazily so that a machine without rdma-core still loads the shim (and runs TCP). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "verbs_ops.h"
#include "kvtier_rdma.h"

static kvt_verbs_ops real_ops;
static int load_result = -EAGAIN;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int (*query_gid_ex_fn)(struct ibv_context *, uint32_t, uint32_t, struct ibv_gid_entry *, uint32_t, size_t);

static int inline_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
    return qp->context->ops.post_send(qp, wr, bad);
}

static int inline_poll_cq(struct ibv_cq *cq, int count, struct ibv_wc *wc)
{
    return cq->context->ops.poll_cq(cq, count, wc);
}

static int inline_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
    return cq->context->ops.req_notify_cq(cq, solicited_only);
}

static uint32_t gid_type_from_kernel(uint32_t type)
{
    switch (type) {
    case IBV_GID_TYPE_IB: return KVT_GID_IB;
    case IBV_GID_TYPE_ROCE_V1: return KVT_GID_ROCE_V1;
    case IBV_GID_TYPE_ROCE_V2: return KVT_GID_ROCE_V2;
    default: return KVT_GID_UNKNOWN;
    }
}

/* Older libibverbs lacks _ibv_query_gid_ex: read the type the kernel publishes in sysfs instead. */
static int sysfs_gid_type(struct ibv_context *context, uint8_t port, int index, uint32_t *type)
{
    char path[512];
    char text[64] = {0};
    snprintf(path, sizeof path, "/sys/class/infiniband/%s/ports/%u/gid_attrs/types/%d",
             real_ops.get_device_name(context->device), port, index);
    FILE *file = fopen(path, "r");
    if (file == NULL)
        return -errno;
    size_t read = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    if (read == 0)
        return -ENODATA;
    if (strncmp(text, "RoCE v2", 7) == 0)
        *type = KVT_GID_ROCE_V2;
    else if (strncmp(text, "IB/RoCE v1", 10) == 0)
        *type = KVT_GID_ROCE_V1;
    else
        *type = KVT_GID_UNKNOWN;
    return 0;
}

static int real_query_gid_type(struct ibv_context *context, uint8_t port, int index, uint32_t *type)
{
    if (query_gid_ex_fn == NULL)
        return sysfs_gid_type(context, port, index, type);
    struct ibv_gid_entry entry;
    int rc = query_gid_ex_fn(context, port, (uint32_t)index, &entry, 0, sizeof entry);
    if (rc != 0)
        return rc > 0 ? -rc : rc;
    *type = gid_type_from_kernel(entry.gid_type);
    return 0;
}

static void load_libibverbs(void)
{
    void *library = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        kvt_set_error("libibverbs.so.1 could not be loaded (install rdma-core's libibverbs1)");
        load_result = -ENOENT;
        return;
    }
#define RESOLVE(field, symbol)                                                                                \
    do {                                                                                                      \
        *(void **)(&real_ops.field) = dlsym(library, symbol);                                                 \
        if (real_ops.field == NULL) {                                                                         \
            kvt_set_error("libibverbs.so.1 lacks " symbol);                                                   \
            load_result = -ENOSYS;                                                                            \
            return;                                                                                           \
        }                                                                                                     \
    } while (0)
    RESOLVE(get_device_list, "ibv_get_device_list");
    RESOLVE(free_device_list, "ibv_free_device_list");
    RESOLVE(get_device_name, "ibv_get_device_name");
    RESOLVE(get_device_guid, "ibv_get_device_guid");
    RESOLVE(open_device, "ibv_open_device");
    RESOLVE(close_device, "ibv_close_device");
    RESOLVE(query_device, "ibv_query_device");
    RESOLVE(query_port, "ibv_query_port");
    RESOLVE(query_gid, "ibv_query_gid");
    RESOLVE(alloc_pd, "ibv_alloc_pd");
    RESOLVE(dealloc_pd, "ibv_dealloc_pd");
    RESOLVE(reg_mr, "ibv_reg_mr");
    RESOLVE(dereg_mr, "ibv_dereg_mr");
    RESOLVE(create_comp_channel, "ibv_create_comp_channel");
    RESOLVE(destroy_comp_channel, "ibv_destroy_comp_channel");
    RESOLVE(create_cq, "ibv_create_cq");
    RESOLVE(destroy_cq, "ibv_destroy_cq");
    RESOLVE(get_cq_event, "ibv_get_cq_event");
    RESOLVE(ack_cq_events, "ibv_ack_cq_events");
    RESOLVE(create_qp, "ibv_create_qp");
    RESOLVE(modify_qp, "ibv_modify_qp");
    RESOLVE(destroy_qp, "ibv_destroy_qp");
#undef RESOLVE
    /* Optional: absent from older rdma-core. */
    *(void **)(&real_ops.reg_dmabuf_mr) = dlsym(library, "ibv_reg_dmabuf_mr");
    *(void **)(&query_gid_ex_fn) = dlsym(library, "_ibv_query_gid_ex");
    real_ops.query_gid_type = real_query_gid_type;
    real_ops.post_send = inline_post_send;
    real_ops.poll_cq = inline_poll_cq;
    real_ops.req_notify_cq = inline_req_notify_cq;
    load_result = 0;
}

int kvt_real_ops(const kvt_verbs_ops **out)
{
    pthread_once(&load_once, load_libibverbs);
    if (load_result == 0)
        *out = &real_ops;
    return load_result;
}
