/* A stand-in libcuda for the C# CUDA binding's "no GPU" tests: every entry point the binding resolves exists and
 * cuInit fails with STUB_RESULT, as the CUDA toolkit's stub library (34, CUDA_ERROR_STUB_LIBRARY) or a driver on
 * a machine without GPUs (100, CUDA_ERROR_NO_DEVICE) does. */
#include <stddef.h>

#define EXPORT __attribute__((visibility("default")))
#define FAIL(name) EXPORT int name(void) { return STUB_RESULT; }

EXPORT int cuInit(unsigned int flags) { (void)flags; return STUB_RESULT; }
EXPORT int cuDriverGetVersion(int *version) { *version = 12040; return 0; }
EXPORT int cuGetErrorName(int result, const char **name)
{
    *name = result == 34 ? "CUDA_ERROR_STUB_LIBRARY" : result == 100 ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
    return 0;
}
FAIL(cuDeviceGetCount)
FAIL(cuDeviceGet)
FAIL(cuDeviceGetName)
FAIL(cuDeviceTotalMem_v2)
FAIL(cuDeviceGetAttribute)
FAIL(cuDevicePrimaryCtxRetain)
FAIL(cuDevicePrimaryCtxRelease_v2)
FAIL(cuCtxSetCurrent)
FAIL(cuMemAlloc_v2)
FAIL(cuMemFree_v2)
FAIL(cuMemHostRegister_v2)
FAIL(cuMemHostUnregister)
FAIL(cuStreamCreate)
FAIL(cuStreamDestroy_v2)
FAIL(cuStreamSynchronize)
FAIL(cuEventCreate)
FAIL(cuEventDestroy_v2)
FAIL(cuEventRecord)
FAIL(cuEventSynchronize)
FAIL(cuEventElapsedTime)
FAIL(cuMemcpyHtoDAsync_v2)
FAIL(cuMemcpyDtoHAsync_v2)
FAIL(cuMemcpyHtoD_v2)
FAIL(cuStreamWaitEvent)
FAIL(cuEventQuery)
