/* The verbs entry points the shim uses, as a table. The real table resolves libibverbs with dlopen/dlsym and
 * reaches the inline data-path verbs through the context's ops, as verbs.h does; tests install a fake table. */
#ifndef KVT_VERBS_OPS_H
#define KVT_VERBS_OPS_H

#include <infiniband/verbs.h>
#include <stdint.h>

typedef struct kvt_verbs_ops {
    struct ibv_device **(*get_device_list)(int *count);
    void (*free_device_list)(struct ibv_device **list);
    const char *(*get_device_name)(struct ibv_device *device);
    uint64_t (*get_device_guid)(struct ibv_device *device); /* network byte order, as ibv_get_device_guid */
    struct ibv_context *(*open_device)(struct ibv_device *device);
    int (*close_device)(struct ibv_context *context);
    int (*query_device)(struct ibv_context *context, struct ibv_device_attr *attr);
    int (*query_port)(struct ibv_context *context, uint8_t port, struct ibv_port_attr *attr);
    int (*query_gid)(struct ibv_context *context, uint8_t port, int index, union ibv_gid *gid);
    /* 0 and *type (kvt_gid_type), or -errno (an empty or missing entry: -ENODATA / -EINVAL). */
    int (*query_gid_type)(struct ibv_context *context, uint8_t port, int index, uint32_t *type);
    struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
    int (*dealloc_pd)(struct ibv_pd *pd);
    struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *address, size_t length, int access);
    struct ibv_mr *(*reg_dmabuf_mr)(struct ibv_pd *pd, uint64_t offset, size_t length, uint64_t iova, int fd,
                                    int access); /* NULL where libibverbs is older than rdma-core 34 */
    int (*dereg_mr)(struct ibv_mr *mr);
    struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *context);
    int (*destroy_comp_channel)(struct ibv_comp_channel *channel);
    struct ibv_cq *(*create_cq)(struct ibv_context *context, int entries, void *cq_context,
                                struct ibv_comp_channel *channel, int vector);
    int (*destroy_cq)(struct ibv_cq *cq);
    int (*get_cq_event)(struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context);
    void (*ack_cq_events)(struct ibv_cq *cq, unsigned int count);
    struct ibv_qp *(*create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
    int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int mask);
    int (*destroy_qp)(struct ibv_qp *qp);
    /* The static-inline data path. */
    int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad);
    int (*poll_cq)(struct ibv_cq *cq, int count, struct ibv_wc *wc);
    int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
} kvt_verbs_ops;

/* Internal (hidden) hooks: the fake device and the CTest programs link the object library directly. */
int kvt_real_ops(const kvt_verbs_ops **out);
void kvt_install_ops(const kvt_verbs_ops *ops); /* NULL restores the real libibverbs table */
void kvt_set_error(const char *message);

#endif
