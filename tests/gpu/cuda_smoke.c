/* cuda-smoke: proves that a CUDA program inside a strata image works on a GPU node when run
 * with `strata run --gpus`. It uses the image's CUDA runtime (libcudart.so.12, from Debian's
 * libcudart12) and the host driver that strata injects (libcuda.so.1, and the PTX JIT
 * compiler behind cuModuleLoadData):
 *   1. runtime: versions, device count, cudaMalloc 256 MiB, cudaMemset, copy back, check;
 *   2. driver: the device's name, then a kernel written in PTX, JIT-compiled by the driver,
 *      launched over 64 Mi integers (x -> 2x + 1) and checked on the host.
 * No CUDA headers are needed: the few entry points are declared here and loaded with dlsym.
 * Prints "cuda-smoke: OK" and exits 0 only when every check passed. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*fn_int_ptr)(int*);
typedef int (*fn_malloc)(void**, size_t);
typedef int (*fn_memset)(void*, int, size_t);
typedef int (*fn_memcpy)(void*, const void*, size_t, int);
typedef int (*fn_free)(void*);
typedef const char* (*fn_errstr)(int);
typedef int (*fn_void)(void);

static void* must_open(const char* name) {
  void* h = dlopen(name, RTLD_NOW | RTLD_GLOBAL);
  if (h == NULL) {
    printf("cuda-smoke: FAIL: dlopen %s: %s\n", name, dlerror());
    exit(1);
  }
  return h;
}

static void* must_sym(void* h, const char* name) {
  void* s = dlsym(h, name);
  if (s == NULL) {
    printf("cuda-smoke: FAIL: symbol %s missing\n", name);
    exit(1);
  }
  return s;
}

static const char k_ptx[] =
    ".version 7.0\n"
    ".target sm_52\n"
    ".address_size 64\n"
    ".visible .entry twice_plus_one(.param .u64 p, .param .u32 n)\n"
    "{\n"
    "  .reg .pred %p<2>;\n"
    "  .reg .b32 %r<8>;\n"
    "  .reg .b64 %rd<5>;\n"
    "  ld.param.u64 %rd1, [p];\n"
    "  ld.param.u32 %r1, [n];\n"
    "  mov.u32 %r2, %ctaid.x;\n"
    "  mov.u32 %r3, %ntid.x;\n"
    "  mov.u32 %r4, %tid.x;\n"
    "  mad.lo.s32 %r5, %r2, %r3, %r4;\n"
    "  setp.ge.u32 %p1, %r5, %r1;\n"
    "  @%p1 bra DONE;\n"
    "  cvta.to.global.u64 %rd2, %rd1;\n"
    "  mul.wide.u32 %rd3, %r5, 4;\n"
    "  add.s64 %rd4, %rd2, %rd3;\n"
    "  ld.global.u32 %r6, [%rd4];\n"
    "  mad.lo.s32 %r7, %r6, 2, 1;\n"
    "  st.global.u32 [%rd4], %r7;\n"
    "DONE:\n"
    "  ret;\n"
    "}\n";

#define CHECK_RT(call)                                                              \
  do {                                                                              \
    int rc_ = (call);                                                               \
    if (rc_ != 0) {                                                                 \
      printf("cuda-smoke: FAIL: %s = %d (%s)\n", #call, rc_, rt_error(rc_));        \
      return 1;                                                                     \
    }                                                                               \
  } while (0)
#define CHECK_DRV(call)                                                             \
  do {                                                                              \
    int rc_ = (call);                                                               \
    if (rc_ != 0) {                                                                 \
      printf("cuda-smoke: FAIL: %s = CUresult %d\n", #call, rc_);                   \
      return 1;                                                                     \
    }                                                                               \
  } while (0)

int main(void) {
  void* rt = must_open("libcudart.so.12");
  void* drv = must_open("libcuda.so.1");
  fn_errstr rt_error = (fn_errstr)must_sym(rt, "cudaGetErrorString");

  int runtime = 0, driver = 0, count = 0;
  CHECK_RT(((fn_int_ptr)must_sym(rt, "cudaRuntimeGetVersion"))(&runtime));
  CHECK_RT(((fn_int_ptr)must_sym(rt, "cudaDriverGetVersion"))(&driver));
  CHECK_RT(((fn_int_ptr)must_sym(rt, "cudaGetDeviceCount"))(&count));
  printf("cuda-smoke: CUDA runtime %d (from the image), driver API %d (from the host), %d device(s)\n",
         runtime, driver, count);
  if (count < 1) {
    printf("cuda-smoke: FAIL: no device\n");
    return 1;
  }

  /* 1. runtime API: allocate, fill, copy back. */
  const size_t bytes = 256u << 20;
  void* dev = NULL;
  CHECK_RT(((fn_malloc)must_sym(rt, "cudaMalloc"))(&dev, bytes));
  CHECK_RT(((fn_memset)must_sym(rt, "cudaMemset"))(dev, 0x5a, bytes));
  unsigned char* host = malloc(bytes);
  CHECK_RT(((fn_memcpy)must_sym(rt, "cudaMemcpy"))(host, dev, bytes, 2 /* DeviceToHost */));
  for (size_t i = 0; i < bytes; i += 4093) {
    if (host[i] != 0x5a) {
      printf("cuda-smoke: FAIL: byte %zu is %#x after cudaMemset 0x5a\n", i, host[i]);
      return 1;
    }
  }
  printf("cuda-smoke: runtime API: 256 MiB cudaMalloc + cudaMemset + cudaMemcpy verified\n");

  /* 2. driver API on the runtime's primary context: a PTX kernel JIT-compiled by the driver. */
  int (*cuDeviceGet)(int*, int) = must_sym(drv, "cuDeviceGet");
  int (*cuDeviceGetName)(char*, int, int) = must_sym(drv, "cuDeviceGetName");
  int (*cuDevicePrimaryCtxRetain)(void**, int) = must_sym(drv, "cuDevicePrimaryCtxRetain");
  int (*cuCtxSetCurrent)(void*) = must_sym(drv, "cuCtxSetCurrent");
  int (*cuModuleLoadData)(void**, const void*) = must_sym(drv, "cuModuleLoadData");
  int (*cuModuleGetFunction)(void**, void*, const char*) = must_sym(drv, "cuModuleGetFunction");
  int (*cuLaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                        void*, void**, void**) = must_sym(drv, "cuLaunchKernel");
  int (*cuCtxSynchronize)(void) = must_sym(drv, "cuCtxSynchronize");
  int device = 0;
  char name[256] = {0};
  void* ctx = NULL;
  void* module = NULL;
  void* kernel = NULL;
  CHECK_DRV(cuDeviceGet(&device, 0));
  CHECK_DRV(cuDeviceGetName(name, sizeof name, device));
  printf("cuda-smoke: device 0: %s\n", name);
  CHECK_DRV(cuDevicePrimaryCtxRetain(&ctx, device));
  CHECK_DRV(cuCtxSetCurrent(ctx));
  CHECK_DRV(cuModuleLoadData(&module, k_ptx));
  CHECK_DRV(cuModuleGetFunction(&kernel, module, "twice_plus_one"));

  unsigned n = (unsigned)(bytes / 4);
  unsigned* words = (unsigned*)host;
  for (unsigned i = 0; i < n; ++i) words[i] = i;
  CHECK_RT(((fn_memcpy)must_sym(rt, "cudaMemcpy"))(dev, host, bytes, 1 /* HostToDevice */));
  unsigned long long ptr = (unsigned long long)dev;
  void* params[] = {&ptr, &n};
  CHECK_DRV(cuLaunchKernel(kernel, (n + 255) / 256, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
  CHECK_DRV(cuCtxSynchronize());
  CHECK_RT(((fn_memcpy)must_sym(rt, "cudaMemcpy"))(host, dev, bytes, 2));
  for (unsigned i = 0; i < n; ++i) {
    if (words[i] != 2 * i + 1) {
      printf("cuda-smoke: FAIL: element %u is %u, expected %u\n", i, words[i], 2 * i + 1);
      return 1;
    }
  }
  printf("cuda-smoke: PTX kernel JIT-compiled by the driver ran over %u integers, all verified\n", n);
  CHECK_RT(((fn_free)must_sym(rt, "cudaFree"))(dev));
  free(host);
  printf("cuda-smoke: OK\n");
  return 0;
}
