/* The shim's data-path tests. The same program runs against the in-memory fake device (CTest, --fake) and
 * against a real verbs provider (the Soft-RoCE guest, --device rxe0): two RC QPs on one device connected to
 * each other, so one process is both requester and responder. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <time.h>

#include "fake_device.h"
#include "kvtier_rdma.h"

static int use_fake;
static const char *device_name;
static char failure[512];

#define CHECK(condition, ...)                                                                                 \
    do {                                                                                                      \
        if (!(condition)) {                                                                                   \
            snprintf(failure, sizeof failure, "%s:%d: %s: ", __FILE__, __LINE__, #condition);                 \
            snprintf(failure + strlen(failure), sizeof failure - strlen(failure), __VA_ARGS__);               \
            return -1;                                                                                        \
        }                                                                                                     \
    } while (0)
#define CHECK_RC(call)                                                                                        \
    do {                                                                                                      \
        int32_t rc_ = (call);                                                                                 \
        CHECK(rc_ == 0, "returned %d (%s), last error: %s", rc_, strerror(-rc_), kvt_last_error());           \
    } while (0)

#define REGION_BYTES (1u << 20)
#define BLOCK 4096u

/* Two connected QPs on one context: `a` issues operations against `b`'s region. */
typedef struct pair {
    kvt_context *context;
    kvt_cq *cq_a, *cq_b;
    kvt_channel *channel;
    kvt_qp *a, *b;
    uint8_t *local_bytes, *remote_bytes;
    kvt_mr *local, *remote;
    kvt_mr_info local_info, remote_info;
} pair;

static int connect_both(pair *p)
{
    kvt_endpoint ea, eb;
    CHECK_RC(kvt_qp_local_endpoint(p->a, &ea));
    CHECK_RC(kvt_qp_local_endpoint(p->b, &eb));
    CHECK_RC(kvt_qp_connect(p->a, &eb, NULL));
    CHECK_RC(kvt_qp_connect(p->b, &ea, NULL));
    return 0;
}

static int open_pair(pair *p, int with_channel)
{
    memset(p, 0, sizeof *p);
    if (use_fake)
        kvt_fake_reset();
    CHECK_RC(kvt_context_open(device_name, 1, -1, &p->context));
    if (with_channel)
        CHECK_RC(kvt_channel_create(p->context, &p->channel));
    CHECK_RC(kvt_cq_create(p->context, 1024, p->channel, &p->cq_a));
    CHECK_RC(kvt_cq_create(p->context, 1024, NULL, &p->cq_b));
    CHECK_RC(kvt_qp_create(p->context, p->cq_a, NULL, 256, &p->a));
    CHECK_RC(kvt_qp_create(p->context, p->cq_b, NULL, 256, &p->b));
    p->local_bytes = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p->remote_bytes = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p->local_bytes != MAP_FAILED && p->remote_bytes != MAP_FAILED, "mmap failed");
    CHECK_RC(kvt_mr_register(p->context, p->local_bytes, REGION_BYTES, KVT_ACCESS_LOCAL_WRITE, &p->local));
    CHECK_RC(kvt_mr_register(p->context, p->remote_bytes, REGION_BYTES,
                             KVT_ACCESS_REMOTE_READ | KVT_ACCESS_REMOTE_WRITE, &p->remote));
    CHECK_RC(kvt_mr_query(p->local, &p->local_info));
    CHECK_RC(kvt_mr_query(p->remote, &p->remote_info));
    return connect_both(p);
}

static void close_pair(pair *p)
{
    if (p->a) kvt_qp_destroy(p->a);
    if (p->b) kvt_qp_destroy(p->b);
    if (p->cq_a) kvt_cq_destroy(p->cq_a);
    if (p->cq_b) kvt_cq_destroy(p->cq_b);
    if (p->channel) kvt_channel_destroy(p->channel);
    if (p->local) kvt_mr_deregister(p->local);
    if (p->remote) kvt_mr_deregister(p->remote);
    if (p->local_bytes && p->local_bytes != MAP_FAILED) munmap(p->local_bytes, REGION_BYTES);
    if (p->remote_bytes && p->remote_bytes != MAP_FAILED) munmap(p->remote_bytes, REGION_BYTES);
    if (p->context) kvt_context_close(p->context);
}

/* Polls until `expected` completions arrived or about 10 s passed (rxe under TCG is slow, not stuck). */
static int drain(kvt_cq *cq, kvt_completion *out, int expected)
{
    int have = 0;
    struct timespec pause = {0, 100000};
    for (long spins = 0; have < expected && spins < 100000; spins++) {
        int32_t got = kvt_cq_poll(cq, out + have, (uint32_t)(expected - have));
        if (got < 0)
            return got;
        have += got;
        if (got == 0)
            nanosleep(&pause, NULL);
    }
    return have;
}

static void fill(uint8_t *bytes, size_t length, uint32_t seed)
{
    for (size_t i = 0; i < length; i++)
        bytes[i] = (uint8_t)((i * 131u + seed * 7u) ^ (i >> 8));
}

static int test_abi(void)
{
    CHECK(kvt_abi_version() == KVT_ABI_VERSION, "abi %u", kvt_abi_version());
    CHECK(kvt_struct_size(KVT_STRUCT_RDMA_OP) == sizeof(kvt_rdma_op), "op size");
    CHECK(kvt_struct_size(KVT_STRUCT_COMPLETION) == 32, "completion size %u", kvt_struct_size(KVT_STRUCT_COMPLETION));
    CHECK(kvt_struct_size(KVT_STRUCT_ENDPOINT) == 32, "endpoint size %u", kvt_struct_size(KVT_STRUCT_ENDPOINT));
    CHECK(kvt_struct_size(999) == 0, "unknown id");
    return 0;
}

static int test_probe_and_port(void)
{
    kvt_device_info devices[8];
    uint32_t count = 0;
    CHECK_RC(kvt_probe(devices, 8, &count));
    CHECK(count >= 1, "no devices");
    CHECK(devices[0].port_count >= 1, "no ports on %s", devices[0].name);
    kvt_context *context;
    CHECK_RC(kvt_context_open(device_name, 1, -1, &context));
    kvt_port_info port;
    CHECK_RC(kvt_context_port_info(context, &port));
    CHECK(port.state == 4, "port state %u", port.state);
    CHECK(port.active_mtu >= 256 && port.active_mtu <= 4096, "mtu %u", port.active_mtu);
    if (port.link_layer == KVT_LINK_ETHERNET) {
        CHECK(port.gid_type == KVT_GID_ROCE_V2, "auto GID picked type %u at index %u", port.gid_type, port.gid_index);
        CHECK(port.gid[10] == 0xff && port.gid[11] == 0xff, "auto GID is not IPv4-mapped (index %u)", port.gid_index);
    }
    CHECK_RC(kvt_context_close(context));
    CHECK(kvt_context_open("no-such-device", 1, -1, &context) == -ENODEV, "unknown device");
    CHECK(kvt_context_open(device_name, 9, -1, &context) == -EINVAL, "unknown port");
    CHECK(kvt_context_open(device_name, 1, 100000, &context) == -EINVAL, "GID index beyond the table");
    return 0;
}

static int test_write_batch_one_doorbell(void)
{
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        enum { N = 64 };
        kvt_rdma_op ops[N];
        fill(p.local_bytes, N * BLOCK, 1);
        memset(p.remote_bytes, 0, N * BLOCK);
        for (int i = 0; i < N; i++) {
            /* Scatter: local block i goes to remote slot (N - 1 - i). */
            ops[i] = (kvt_rdma_op){.wr_id = 1000 + i, .local_address = p.local_info.address + i * BLOCK,
                                   .remote_address = p.remote_info.address + (N - 1 - i) * BLOCK,
                                   .length = BLOCK, .rkey = p.remote_info.rkey, .opcode = KVT_OP_WRITE};
        }
        uint64_t doorbells = use_fake ? kvt_fake_doorbells() : 0;
        uint32_t posted = 0;
        int32_t post = kvt_qp_post(p.a, p.local, ops, N, &posted);
        if (post != 0) { snprintf(failure, sizeof failure, "post %d (%s)", post, kvt_last_error()); rc = -1; }
        else if (posted != N) { snprintf(failure, sizeof failure, "posted %u", posted); rc = -1; }
        else if (use_fake && kvt_fake_doorbells() != doorbells + 1) {
            snprintf(failure, sizeof failure, "%llu doorbells for one batch",
                     (unsigned long long)(kvt_fake_doorbells() - doorbells));
            rc = -1;
        }
        kvt_completion c[N];
        int got = rc == 0 ? drain(p.cq_a, c, 1) : 0;
        if (rc == 0 && (got != 1 || c[0].status != KVT_WC_SUCCESS || c[0].wr_id != 1000 + N - 1)) {
            snprintf(failure, sizeof failure, "want one completion for the last op, got %d (status %u id %llu)",
                     got, got > 0 ? c[0].status : 0, got > 0 ? (unsigned long long)c[0].wr_id : 0ull);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < N; i++)
            if (memcmp(p.local_bytes + i * BLOCK, p.remote_bytes + (N - 1 - i) * BLOCK, BLOCK) != 0) {
                snprintf(failure, sizeof failure, "block %d landed wrong", i);
                rc = -1;
            }
        if (rc == 0 && kvt_cq_poll(p.cq_a, c, N) != 0) { snprintf(failure, sizeof failure, "extra completions"); rc = -1; }
    }
    close_pair(&p);
    return rc;
}

static int test_read_batch_all_signaled(void)
{
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        enum { N = 32 };
        kvt_rdma_op ops[N];
        fill(p.remote_bytes, REGION_BYTES, 2);
        memset(p.local_bytes, 0, REGION_BYTES);
        for (int i = 0; i < N; i++)
            ops[i] = (kvt_rdma_op){.wr_id = (uint64_t)i << 32 | 7, .local_address = p.local_info.address + i * BLOCK,
                                   .remote_address = p.remote_info.address + (uint64_t)(i * 3) * BLOCK,
                                   .length = BLOCK, .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ,
                                   .flags = KVT_OP_SIGNALED};
        uint32_t posted = 0;
        int32_t post = kvt_qp_post(p.a, p.local, ops, N, &posted);
        kvt_completion c[N];
        int got = post == 0 ? drain(p.cq_a, c, N) : 0;
        if (post != 0 || got != N) {
            snprintf(failure, sizeof failure, "post %d, %d of %d completions (%s)", post, got, N, kvt_last_error());
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < N; i++) {
            if (c[i].status != KVT_WC_SUCCESS || c[i].wr_id != ((uint64_t)i << 32 | 7) || c[i].opcode != KVT_OP_READ ||
                c[i].byte_len != BLOCK) {
                snprintf(failure, sizeof failure, "completion %d: status %u id %llx opcode %u len %u", i, c[i].status,
                         (unsigned long long)c[i].wr_id, c[i].opcode, c[i].byte_len);
                rc = -1;
            } else if (memcmp(p.local_bytes + i * BLOCK, p.remote_bytes + (size_t)i * 3 * BLOCK, BLOCK) != 0) {
                snprintf(failure, sizeof failure, "block %d read wrong bytes", i);
                rc = -1;
            }
        }
    }
    close_pair(&p);
    return rc;
}

static int test_local_bounds_rejected_before_posting(void)
{
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        uint64_t doorbells = use_fake ? kvt_fake_doorbells() : 0;
        kvt_rdma_op ops[2] = {
            {.wr_id = 1, .local_address = p.local_info.address, .remote_address = p.remote_info.address,
             .length = BLOCK, .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ},
            {.wr_id = 2, .local_address = p.local_info.address + REGION_BYTES - 16, .remote_address = p.remote_info.address,
             .length = 32, .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ},
        };
        uint32_t posted = 99;
        int32_t r1 = kvt_qp_post(p.a, p.local, ops, 2, &posted);
        ops[1].local_address = p.local_info.address - 1;
        int32_t r2 = kvt_qp_post(p.a, p.local, ops, 2, &posted);
        ops[1].local_address = UINT64_MAX - 8;
        int32_t r3 = kvt_qp_post(p.a, p.local, ops, 2, &posted);
        ops[1] = ops[0];
        ops[1].opcode = 7;
        int32_t r4 = kvt_qp_post(p.a, p.local, ops, 2, &posted);
        ops[1].opcode = KVT_OP_READ;
        ops[1].length = 0;
        int32_t r5 = kvt_qp_post(p.a, p.local, ops, 2, &posted);
        int32_t r6 = kvt_qp_post(p.a, p.local, ops, 257, &posted);
        kvt_completion c[4];
        if (r1 != -ERANGE || r2 != -ERANGE || r3 != -ERANGE || r4 != -EINVAL || r5 != -EINVAL || r6 != -EINVAL) {
            snprintf(failure, sizeof failure, "returns %d %d %d %d %d %d", r1, r2, r3, r4, r5, r6);
            rc = -1;
        } else if (posted != 0) {
            snprintf(failure, sizeof failure, "posted %u after a rejected batch", posted);
            rc = -1;
        } else if (use_fake && kvt_fake_doorbells() != doorbells) {
            snprintf(failure, sizeof failure, "a rejected batch rang the doorbell");
            rc = -1;
        } else if (kvt_cq_poll(p.cq_a, c, 4) != 0) {
            snprintf(failure, sizeof failure, "a rejected batch made completions");
            rc = -1;
        }
    }
    close_pair(&p);
    return rc;
}

/* A bad rkey fails that work request with a remote access error, flushes the ones after it, and the QPs
 * work again after reset and reconnect. */
static int test_error_completion_per_request_and_reconnect(void)
{
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        enum { N = 6 };
        kvt_rdma_op ops[N];
        fill(p.remote_bytes, REGION_BYTES, 3);
        for (int i = 0; i < N; i++)
            ops[i] = (kvt_rdma_op){.wr_id = 500 + i, .local_address = p.local_info.address + i * BLOCK,
                                   .remote_address = p.remote_info.address + i * BLOCK, .length = BLOCK,
                                   .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ, .flags = KVT_OP_SIGNALED};
        ops[3].rkey ^= 0x5a5a00; /* nobody registered this key */
        int32_t post = kvt_qp_post(p.a, p.local, ops, N, NULL);
        kvt_completion c[N];
        int got = post == 0 ? drain(p.cq_a, c, N) : post;
        if (got != N) {
            snprintf(failure, sizeof failure, "post %d, %d of %d completions", post, got, N);
            rc = -1;
        }
        for (int i = 0; rc == 0 && i < N; i++) {
            uint32_t want = i < 3 ? KVT_WC_SUCCESS : i == 3 ? KVT_WC_REMOTE_ACCESS : KVT_WC_FLUSHED;
            if (c[i].wr_id != (uint64_t)(500 + i) || c[i].status != want) {
                snprintf(failure, sizeof failure, "completion %d: id %llu status %u (raw %u), want status %u", i,
                         (unsigned long long)c[i].wr_id, c[i].status, c[i].raw_status, want);
                rc = -1;
            }
        }
        if (rc == 0) {
            /* Recover: both ends back to RESET (the responder may also have gone to ERROR), reconnect, reread. */
            kvt_qp_reset(p.a);
            kvt_qp_reset(p.b);
            if (connect_both(&p) != 0) {
                rc = -1;
            } else {
                memset(p.local_bytes, 0, BLOCK);
                int32_t again = kvt_qp_post(p.a, p.local, ops, 1, NULL);
                got = again == 0 ? drain(p.cq_a, c, 1) : again;
                if (got != 1 || c[0].status != KVT_WC_SUCCESS || memcmp(p.local_bytes, p.remote_bytes, BLOCK) != 0) {
                    snprintf(failure, sizeof failure, "after reconnect: post %d got %d status %u", again, got,
                             got > 0 ? c[0].status : 99);
                    rc = -1;
                }
            }
        }
    }
    close_pair(&p);
    return rc;
}

static int test_remote_bounds_fail_the_request(void)
{
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        kvt_rdma_op op = {.wr_id = 9, .local_address = p.local_info.address,
                          .remote_address = p.remote_info.address + REGION_BYTES - BLOCK / 2, .length = BLOCK,
                          .rkey = p.remote_info.rkey, .opcode = KVT_OP_WRITE};
        int32_t post = kvt_qp_post(p.a, p.local, &op, 1, NULL);
        kvt_completion c[1];
        int got = post == 0 ? drain(p.cq_a, c, 1) : post;
        if (got != 1 || c[0].wr_id != 9 || c[0].status != KVT_WC_REMOTE_ACCESS) {
            snprintf(failure, sizeof failure, "post %d got %d status %u", post, got, got > 0 ? c[0].status : 99);
            rc = -1;
        }
    }
    close_pair(&p);
    return rc;
}

static int test_completion_channel_wakes_waiter(void)
{
    pair p;
    int rc = open_pair(&p, 1);
    if (rc == 0) {
        kvt_cq *which = NULL;
        int32_t idle = kvt_channel_wait(p.channel, 0, &which);
        kvt_rdma_op op = {.wr_id = 77, .local_address = p.local_info.address, .remote_address = p.remote_info.address,
                          .length = BLOCK, .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ};
        int32_t post = kvt_qp_post(p.a, p.local, &op, 1, NULL);
        int32_t woke = post == 0 ? kvt_channel_wait(p.channel, 10000, &which) : post;
        kvt_completion c[1];
        int got = woke == 0 ? drain(p.cq_a, c, 1) : 0;
        if (idle != -ETIMEDOUT || woke != 0 || which != p.cq_a || got != 1 || c[0].wr_id != 77) {
            snprintf(failure, sizeof failure, "idle %d woke %d cq ok %d got %d", idle, woke, which == p.cq_a, got);
            rc = -1;
        }
    }
    close_pair(&p);
    return rc;
}

static int test_refused_post_reports_how_many_were_accepted(void)
{
    if (!use_fake)
        return 1; /* needs fault injection */
    pair p;
    int rc = open_pair(&p, 0);
    if (rc == 0) {
        kvt_rdma_op ops[4];
        for (int i = 0; i < 4; i++)
            ops[i] = (kvt_rdma_op){.wr_id = (uint64_t)i, .local_address = p.local_info.address + i * BLOCK,
                                   .remote_address = p.remote_info.address, .length = BLOCK,
                                   .rkey = p.remote_info.rkey, .opcode = KVT_OP_READ, .flags = KVT_OP_SIGNALED};
        kvt_fake_refuse_next_post_at(2);
        uint32_t posted = 0;
        int32_t post = kvt_qp_post(p.a, p.local, ops, 4, &posted);
        if (post != -ENOMEM || posted != 2) {
            snprintf(failure, sizeof failure, "post %d posted %u", post, posted);
            rc = -1;
        }
    }
    close_pair(&p);
    return rc;
}

static int test_bad_arguments_return_negative_errno(void)
{
    uint32_t count;
    kvt_context *context;
    CHECK(kvt_probe(NULL, 1, &count) == -EINVAL, "probe null");
    CHECK(kvt_context_open(device_name, 1, -1, NULL) == -EINVAL, "open null");
    CHECK_RC(kvt_context_open(device_name, 1, -1, &context));
    kvt_mr *mr;
    uint8_t byte;
    CHECK(kvt_mr_register(context, &byte, 0, KVT_ACCESS_LOCAL_WRITE, &mr) == -EINVAL, "empty region");
    CHECK(kvt_mr_register(context, &byte, 1, 1u << 9, &mr) == -EINVAL, "unknown access");
    CHECK(kvt_mr_register_dmabuf(context, -1, 0, 4096, 0, 0, &mr) == -EINVAL, "bad fd");
    kvt_cq *cq;
    CHECK(kvt_cq_create(context, 0, NULL, &cq) == -EINVAL, "empty cq");
    CHECK_RC(kvt_cq_create(context, 16, NULL, &cq));
    kvt_qp *qp;
    CHECK(kvt_qp_create(context, cq, NULL, 0, &qp) == -EINVAL, "zero wr");
    CHECK_RC(kvt_qp_create(context, cq, NULL, 16, &qp));
    kvt_endpoint remote = {.qp_num = 1u << 24};
    CHECK(kvt_qp_connect(qp, &remote, NULL) == -EINVAL, "qp_num beyond 24 bits");
    CHECK(kvt_cq_poll(cq, NULL, 4) == -EINVAL, "poll null");
    CHECK(kvt_qp_post(qp, NULL, NULL, 0, NULL) == -EINVAL, "post null mr");
    CHECK_RC(kvt_qp_destroy(qp));
    CHECK_RC(kvt_cq_destroy(cq));
    CHECK_RC(kvt_context_close(context));
    return 0;
}

/* On the real provider: kvt_probe agrees with the kernel's device list (none on a host without RDMA). */
static int test_probe_matches_sysfs(void)
{
    if (use_fake)
        return 1;
    uint32_t in_sysfs = 0;
    DIR *dir = opendir("/sys/class/infiniband");
    if (dir != NULL) {
        for (struct dirent *entry; (entry = readdir(dir)) != NULL;)
            in_sysfs += entry->d_name[0] != '.';
        closedir(dir);
    }
    kvt_device_info devices[16];
    uint32_t count = 99;
    CHECK_RC(kvt_probe(devices, 16, &count));
    CHECK(count == in_sysfs, "kvt_probe found %u devices, /sys/class/infiniband lists %u", count, in_sysfs);
    return 0;
}

typedef struct test_case {
    const char *name;
    int (*run)(void);
} test_case;

static const test_case tests[] = {
    {"abi", test_abi},
    {"probe_and_port", test_probe_and_port},
    {"bad_arguments", test_bad_arguments_return_negative_errno},
    {"write_batch", test_write_batch_one_doorbell},
    {"read_batch", test_read_batch_all_signaled},
    {"local_bounds", test_local_bounds_rejected_before_posting},
    {"remote_bounds", test_remote_bounds_fail_the_request},
    {"error_completion", test_error_completion_per_request_and_reconnect},
    {"completion_channel", test_completion_channel_wakes_waiter},
    {"refused_post", test_refused_post_reports_how_many_were_accepted},
    {"probe_matches_sysfs", test_probe_matches_sysfs},
};

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fake") == 0)
            use_fake = 1;
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            device_name = argv[++i];
        else
            only = argv[i];
    }
    if (use_fake) {
        kvt_install_ops(kvt_fake_ops());
    } else {
        int32_t loaded = kvt_load();
        if (loaded != 0) {
            printf("FAIL load: %d %s\n", loaded, kvt_last_error());
            return 1;
        }
    }
    int failed = 0, ran = 0;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only != NULL && strcmp(only, tests[i].name) != 0)
            continue;
        failure[0] = '\0';
        int rc = tests[i].run();
        ran++;
        if (rc > 0)
            printf("SKIP %s (%s)\n", tests[i].name, use_fake ? "needs a real provider" : "needs the fake device");
        else if (rc == 0)
            printf("PASS %s\n", tests[i].name);
        else {
            printf("FAIL %s: %s\n", tests[i].name, failure);
            failed++;
        }
        fflush(stdout);
    }
    if (ran == 0) {
        printf("FAIL: no test named %s\n", only ? only : "(none)");
        return 2;
    }
    printf("%s: %d of %d failed (%s)\n", failed ? "FAILED" : "PASSED", failed, ran, use_fake ? "fake device" : device_name ? device_name : "first device");
    return failed ? 1 : 0;
}
