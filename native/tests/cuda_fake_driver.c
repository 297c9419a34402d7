/* A fake CUDA driver for the C# binding's tests on machines without a GPU: "device memory" is host memory,
 * copies are memcpy (bounds-checked against live allocations), host registrations are tracked (double or unknown
 * registrations fail as the driver's do), events carry CLOCK_MONOTONIC timestamps. It exercises the binding's
 * happy path and the GPU check program end to end; it says nothing about real GPU behaviour or speed. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_ITEMS 256

enum {
    OK = 0,
    INVALID_VALUE = 1,
    NOT_INITIALIZED = 3,
    INVALID_CONTEXT = 201,
    HOST_MEMORY_ALREADY_REGISTERED = 712,
    HOST_MEMORY_NOT_REGISTERED = 713,
};

typedef struct range { uintptr_t start; size_t length; } range;

static int initialised;
static int context_retained;
static int context_current;
static range allocations[MAX_ITEMS];
static range registrations[MAX_ITEMS];
static int primary_context_storage;
static int unpinned_async_copies;
static int gpudirect_flushes;

static int add(range *table, uintptr_t start, size_t length)
{
    for (int i = 0; i < MAX_ITEMS; i++)
        if (table[i].start == 0) {
            table[i] = (range){start, length};
            return OK;
        }
    return INVALID_VALUE;
}

static range *find_containing(range *table, uintptr_t start, size_t length)
{
    for (int i = 0; i < MAX_ITEMS; i++)
        if (table[i].start != 0 && start >= table[i].start && start + length >= start &&
            start + length <= table[i].start + table[i].length)
            return &table[i];
    return NULL;
}

static int overlaps(const range *table, uintptr_t start, size_t length)
{
    for (int i = 0; i < MAX_ITEMS; i++)
        if (table[i].start != 0 && start < table[i].start + table[i].length && table[i].start < start + length)
            return 1;
    return 0;
}

static int ready(void)
{
    if (!initialised)
        return NOT_INITIALIZED;
    return context_retained && context_current ? OK : INVALID_CONTEXT;
}

EXPORT int cuInit(unsigned int flags) { initialised = flags == 0; return flags == 0 ? OK : INVALID_VALUE; }
EXPORT int cuDriverGetVersion(int *version) { *version = 12040; return OK; }
EXPORT int cuDeviceGetCount(int *count) { *count = 1; return initialised ? OK : NOT_INITIALIZED; }
EXPORT int cuDeviceGet(int *device, int ordinal) { *device = 0; return ordinal == 0 ? OK : INVALID_VALUE; }
EXPORT int cuDeviceGetName(char *name, int length, int device)
{
    (void)device;
    strncpy(name, "KvTier Fake GPU", (size_t)length - 1);
    name[length - 1] = '\0';
    return OK;
}
EXPORT int cuDeviceTotalMem_v2(size_t *bytes, int device) { (void)device; *bytes = (size_t)80 << 30; return OK; }
EXPORT int cuDeviceGetAttribute(int *value, int attribute, int device)
{
    (void)device;
    switch (attribute) {
    case 75: *value = 9; break;    /* compute capability major */
    case 76: *value = 0; break;
    case 33: *value = 0x1b; break; /* PCI bus */
    case 116: *value = 1; break;   /* GPUDirect RDMA */
    case 124: *value = 1; break;   /* dma-buf */
    default: *value = 0;
    }
    return OK;
}
EXPORT int cuDevicePrimaryCtxRetain(void **context, int device)
{
    (void)device;
    context_retained++;
    *context = &primary_context_storage;
    return OK;
}
EXPORT int cuDevicePrimaryCtxRelease_v2(int device) { (void)device; context_retained--; return OK; }
EXPORT int cuCtxSetCurrent(void *context)
{
    context_current = context == &primary_context_storage;
    return context_current || context == NULL ? OK : INVALID_CONTEXT;
}
EXPORT int cuMemAlloc_v2(uint64_t *pointer, size_t bytes)
{
    int rc = ready();
    if (rc != OK)
        return rc;
    void *memory = malloc(bytes);
    if (memory == NULL)
        return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
    *pointer = (uint64_t)(uintptr_t)memory;
    return add(allocations, (uintptr_t)memory, bytes);
}
EXPORT int cuMemFree_v2(uint64_t pointer)
{
    for (int i = 0; i < MAX_ITEMS; i++)
        if (allocations[i].start == pointer) {
            free((void *)(uintptr_t)pointer);
            allocations[i] = (range){0, 0};
            return OK;
        }
    return INVALID_VALUE;
}
EXPORT int cuMemHostRegister_v2(void *address, size_t bytes, unsigned int flags)
{
    (void)flags;
    int rc = ready();
    if (rc != OK)
        return rc;
    if (overlaps(registrations, (uintptr_t)address, bytes))
        return HOST_MEMORY_ALREADY_REGISTERED;
    return add(registrations, (uintptr_t)address, bytes);
}
EXPORT int cuMemHostUnregister(void *address)
{
    for (int i = 0; i < MAX_ITEMS; i++)
        if (registrations[i].start == (uintptr_t)address) {
            registrations[i] = (range){0, 0};
            return OK;
        }
    return HOST_MEMORY_NOT_REGISTERED;
}
EXPORT int cuStreamCreate(void **stream, unsigned int flags) { (void)flags; *stream = malloc(1); return ready(); }
EXPORT int cuStreamDestroy_v2(void *stream) { free(stream); return OK; }
EXPORT int cuStreamSynchronize(void *stream) { (void)stream; return ready(); }
EXPORT int cuEventCreate(void **event, unsigned int flags) { (void)flags; *event = calloc(1, sizeof(double)); return ready(); }
EXPORT int cuEventDestroy_v2(void *event) { free(event); return OK; }
EXPORT int cuEventRecord(void *event, void *stream)
{
    (void)stream;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    *(double *)event = now.tv_sec * 1e3 + now.tv_nsec / 1e6;
    return ready();
}
EXPORT int cuEventSynchronize(void *event) { (void)event; return ready(); }
EXPORT int cuEventQuery(void *event) { (void)event; return ready(); }
EXPORT int cuStreamWaitEvent(void *stream, void *event, unsigned int flags)
{
    (void)stream;
    (void)event;
    return flags == 0 ? ready() : INVALID_VALUE;
}
/* Test hook (not a driver entry point): async host-to-device copies whose source was not registered. */
EXPORT int kvt_fake_cuda_unpinned_async_copies(void) { return unpinned_async_copies; }
EXPORT int cuEventElapsedTime(float *milliseconds, void *start, void *end)
{
    double elapsed = *(double *)end - *(double *)start;
    *milliseconds = (float)(elapsed > 1e-4 ? elapsed : 1e-4);
    return OK;
}
static int copy(void *destination, const void *source, size_t bytes, uint64_t device, size_t device_bytes)
{
    int rc = ready();
    if (rc != OK)
        return rc;
    if (find_containing(allocations, (uintptr_t)device, device_bytes) == NULL)
        return INVALID_VALUE;
    memcpy(destination, source, bytes);
    return OK;
}
EXPORT int cuMemcpyHtoDAsync_v2(uint64_t device, const void *host, size_t bytes, void *stream)
{
    (void)stream;
    /* A real driver runs an async copy from pageable memory synchronously; counted so tests see staging pinned. */
    if (find_containing(registrations, (uintptr_t)host, bytes) == NULL)
        unpinned_async_copies++;
    return copy((void *)(uintptr_t)device, host, bytes, device, bytes);
}
EXPORT int cuMemcpyDtoHAsync_v2(void *host, uint64_t device, size_t bytes, void *stream)
{
    (void)stream;
    return copy(host, (const void *)(uintptr_t)device, bytes, device, bytes);
}
EXPORT int cuMemcpyHtoD_v2(uint64_t device, const void *host, size_t bytes)
{
    return copy((void *)(uintptr_t)device, host, bytes, device, bytes);
}
EXPORT int cuFlushGPUDirectRDMAWrites(int target, int scope)
{
    if (target != 0 || (scope != 100 && scope != 200))
        return INVALID_VALUE;
    int rc = ready();
    if (rc == OK)
        gpudirect_flushes++;
    return rc;
}
/* Test hook (not a driver entry point): calls of cuFlushGPUDirectRDMAWrites that succeeded. */
EXPORT int kvt_fake_cuda_gpudirect_flushes(void) { return gpudirect_flushes; }
EXPORT int cuMemGetHandleForAddressRange(void *handle, uint64_t device, size_t bytes, int type, unsigned long long flags)
{
    if (type != 1 || flags != 0 || find_containing(allocations, (uintptr_t)device, bytes) == NULL)
        return INVALID_VALUE;
    *(int *)handle = eventfd(0, EFD_CLOEXEC); /* any descriptor: the binding only hands it on */
    return *(int *)handle >= 0 ? OK : INVALID_VALUE;
}
EXPORT int cuGetErrorName(int result, const char **name)
{
    switch (result) {
    case OK: *name = "CUDA_SUCCESS"; break;
    case INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; break;
    case NOT_INITIALIZED: *name = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case INVALID_CONTEXT: *name = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case HOST_MEMORY_ALREADY_REGISTERED: *name = "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED"; break;
    case HOST_MEMORY_NOT_REGISTERED: *name = "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED"; break;
    default: *name = "CUDA_ERROR_UNKNOWN";
    }
    return OK;
}
