/* Exports compiled only into libkvtier_rdma_testing.so: they let the C# tests drive the shim against the
 * in-memory fake device. The production libkvtier_rdma.so does not contain them (see exported-symbols.txt). */
#include <stdlib.h>
#include <string.h>
#include "fake_device.h"
#include "kvtier_rdma.h"

#define KVT_TESTING_API __attribute__((visibility("default")))

KVT_TESTING_API int32_t kvt_testing_use_fake_device(int32_t enable)
{
    if (enable) {
        kvt_fake_reset();
        kvt_install_ops(kvt_fake_ops());
    } else {
        kvt_install_ops(NULL);
    }
    return 0;
}

KVT_TESTING_API uint64_t kvt_testing_fake_doorbells(void) { return kvt_fake_doorbells(); }

KVT_TESTING_API uint64_t kvt_testing_fake_work_requests(void) { return kvt_fake_work_requests(); }

KVT_TESTING_API void kvt_testing_fake_refuse_next_post_at(int32_t index) { kvt_fake_refuse_next_post_at(index); }

/* KVTIER_RDMA_FAKE=1 installs the fake device as the testing shim loads: for programs the tests start as processes
 * (the GPU check's GPUDirect probe), which cannot call kvt_testing_use_fake_device themselves. */
__attribute__((constructor)) static void install_fake_device_from_environment(void)
{
    const char *fake = getenv("KVTIER_RDMA_FAKE");
    if (fake != NULL && strcmp(fake, "1") == 0)
        kvt_testing_use_fake_device(1);
}
