// Node addon of @skvq/backend-cuda: a thin, explicit wrapper of the CUDA driver API.
//
// It links nothing from CUDA: libcuda.so.1 is opened with dlopen at run time, so the addon
// loads on machines without a driver and probe() reports why CUDA is unusable. Kernels are
// not compiled into the addon: the package's build step compiles src/cuda/*.cu to fatbins
// (SASS + PTX) that JavaScript reads and passes to loadModule().
//
// Every failing driver call throws a JS Error whose message starts with
// "CUDA <cuFunction> failed: <CUDA_ERROR_NAME> (<code>)"; src/errors.ts turns it into a
// typed SkvqError. Device memory is owned explicitly: alloc() returns a BigInt address that
// the caller frees with free(); dispose() releases modules and the context.
#include <dlfcn.h>
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace {

// Minimal driver API types (ABI of cuda.h), declared here so that building the addon needs
// no CUDA headers.
typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef struct CUmod_st* CUmodule;
typedef struct CUfunc_st* CUfunction;
typedef struct CUstream_st* CUstream;
typedef unsigned long long CUdeviceptr;

constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;

struct Driver {
  void* handle = nullptr;
  CUresult (*cuInit)(unsigned int) = nullptr;
  CUresult (*cuDriverGetVersion)(int*) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDeviceGetName)(char*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceGetAttribute)(int*, int, CUdevice) = nullptr;
  CUresult (*cuDeviceTotalMem)(size_t*, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuCtxSynchronize)() = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, CUstream, void**, void**) = nullptr;
  CUresult (*cuMemAlloc)(CUdeviceptr*, size_t) = nullptr;
  CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void*, size_t) = nullptr;
  CUresult (*cuMemcpyDtoH)(void*, CUdeviceptr, size_t) = nullptr;
  CUresult (*cuMemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t) = nullptr;
  CUresult (*cuMemsetD8)(CUdeviceptr, unsigned char, size_t) = nullptr;
  CUresult (*cuMemGetInfo)(size_t*, size_t*) = nullptr;
  CUresult (*cuGetErrorName)(CUresult, const char**) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;
};

Driver drv;
std::string loadFailure;  // why the driver could not be loaded ("" when it was)
bool loadAttempted = false;
bool contextReady = false;
CUdevice device = 0;
CUcontext context = nullptr;
std::vector<CUmodule> modules;
std::vector<CUfunction> functions;

template <typename T>
bool Resolve(T* slot, const char* name) {
  *slot = reinterpret_cast<T>(dlsym(drv.handle, name));
  if (*slot == nullptr) {
    loadFailure = std::string("libcuda.so.1 lacks the symbol ") + name;
    return false;
  }
  return true;
}

// Opens libcuda.so.1 and resolves every entry point once; remembers the failure reason.
bool LoadDriver() {
  if (loadAttempted) return loadFailure.empty();
  loadAttempted = true;
  drv.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (drv.handle == nullptr) {
    const char* why = dlerror();
    loadFailure = std::string("no CUDA driver: cannot load libcuda.so.1 (") +
                  (why ? why : "unknown dlopen error") + ")";
    return false;
  }
  return Resolve(&drv.cuInit, "cuInit") && Resolve(&drv.cuDriverGetVersion, "cuDriverGetVersion") &&
         Resolve(&drv.cuDeviceGetCount, "cuDeviceGetCount") &&
         Resolve(&drv.cuDeviceGet, "cuDeviceGet") &&
         Resolve(&drv.cuDeviceGetName, "cuDeviceGetName") &&
         Resolve(&drv.cuDeviceGetAttribute, "cuDeviceGetAttribute") &&
         Resolve(&drv.cuDeviceTotalMem, "cuDeviceTotalMem_v2") &&
         Resolve(&drv.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
         Resolve(&drv.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") &&
         Resolve(&drv.cuCtxSetCurrent, "cuCtxSetCurrent") &&
         Resolve(&drv.cuCtxSynchronize, "cuCtxSynchronize") &&
         Resolve(&drv.cuModuleLoadData, "cuModuleLoadData") &&
         Resolve(&drv.cuModuleUnload, "cuModuleUnload") &&
         Resolve(&drv.cuModuleGetFunction, "cuModuleGetFunction") &&
         Resolve(&drv.cuFuncSetAttribute, "cuFuncSetAttribute") &&
         Resolve(&drv.cuLaunchKernel, "cuLaunchKernel") &&
         Resolve(&drv.cuMemAlloc, "cuMemAlloc_v2") && Resolve(&drv.cuMemFree, "cuMemFree_v2") &&
         Resolve(&drv.cuMemcpyHtoD, "cuMemcpyHtoD_v2") &&
         Resolve(&drv.cuMemcpyDtoH, "cuMemcpyDtoH_v2") &&
         Resolve(&drv.cuMemcpyDtoD, "cuMemcpyDtoD_v2") &&
         Resolve(&drv.cuMemsetD8, "cuMemsetD8_v2") &&
         Resolve(&drv.cuMemGetInfo, "cuMemGetInfo_v2") &&
         Resolve(&drv.cuGetErrorName, "cuGetErrorName") &&
         Resolve(&drv.cuGetErrorString, "cuGetErrorString");
}

std::string Describe(CUresult code) {
  const char* name = nullptr;
  const char* text = nullptr;
  if (drv.cuGetErrorName) drv.cuGetErrorName(code, &name);
  if (drv.cuGetErrorString) drv.cuGetErrorString(code, &text);
  return std::string(name ? name : "CUDA_ERROR_UNKNOWN") + " (" + std::to_string(code) + ")" +
         (text ? std::string(": ") + text : std::string());
}

// Throws a JS Error for a failed driver call; returns false so callers can `return`.
bool Check(Napi::Env env, CUresult code, const char* call) {
  if (code == CUDA_SUCCESS) return true;
  Napi::Error::New(env, std::string("CUDA ") + call + " failed: " + Describe(code))
      .ThrowAsJavaScriptException();
  return false;
}

bool RequireContext(Napi::Env env) {
  if (contextReady) return true;
  Napi::Error::New(env, "CUDA context not initialised: call init() first")
      .ThrowAsJavaScriptException();
  return false;
}

CUdeviceptr ToPtr(const Napi::Value& v) {
  bool lossless = true;
  return static_cast<CUdeviceptr>(v.As<Napi::BigInt>().Uint64Value(&lossless));
}

// probe(): { available, reason?, driverVersion?, devices? } without creating a context.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  if (!LoadDriver()) {
    out.Set("available", false);
    out.Set("reason", loadFailure);
    return out;
  }
  CUresult r = drv.cuInit(0);
  if (r != CUDA_SUCCESS) {
    out.Set("available", false);
    out.Set("reason", "cuInit failed: " + Describe(r));
    return out;
  }
  int version = 0;
  drv.cuDriverGetVersion(&version);
  out.Set("driverVersion", version);
  int count = 0;
  r = drv.cuDeviceGetCount(&count);
  if (r != CUDA_SUCCESS || count == 0) {
    out.Set("available", false);
    out.Set("reason", r != CUDA_SUCCESS ? "cuDeviceGetCount failed: " + Describe(r)
                                        : std::string("the CUDA driver reports no device"));
    return out;
  }
  out.Set("available", true);
  out.Set("devices", count);
  return out;
}

// init(ordinal): retains the device's primary context and makes it current.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (contextReady) return env.Undefined();
  if (!LoadDriver()) {
    Napi::Error::New(env, loadFailure).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int ordinal = info[0].As<Napi::Number>().Int32Value();
  if (!Check(env, drv.cuInit(0), "cuInit")) return env.Undefined();
  if (!Check(env, drv.cuDeviceGet(&device, ordinal), "cuDeviceGet")) return env.Undefined();
  if (!Check(env, drv.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain"))
    return env.Undefined();
  if (!Check(env, drv.cuCtxSetCurrent(context), "cuCtxSetCurrent")) {
    drv.cuDevicePrimaryCtxRelease(device);
    return env.Undefined();
  }
  contextReady = true;
  return env.Undefined();
}

// deviceInfo(): name, compute capability, SM count, opt-in shared memory, memory sizes.
Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  char name[256] = {0};
  int sms = 0, major = 0, minor = 0, smem = 0;
  size_t total = 0, freeBytes = 0, totalNow = 0;
  if (!Check(env, drv.cuDeviceGetName(name, sizeof(name) - 1, device), "cuDeviceGetName") ||
      !Check(env, drv.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
             "cuDeviceGetAttribute") ||
      !Check(env,
             drv.cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
             "cuDeviceGetAttribute") ||
      !Check(env,
             drv.cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
             "cuDeviceGetAttribute") ||
      !Check(env,
             drv.cuDeviceGetAttribute(&smem, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                      device),
             "cuDeviceGetAttribute") ||
      !Check(env, drv.cuDeviceTotalMem(&total, device), "cuDeviceTotalMem") ||
      !Check(env, drv.cuMemGetInfo(&freeBytes, &totalNow), "cuMemGetInfo"))
    return env.Undefined();
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", std::string(name));
  out.Set("computeCapability", std::to_string(major) + "." + std::to_string(minor));
  out.Set("multiprocessors", sms);
  out.Set("maxSharedBytesPerBlock", smem);
  out.Set("totalBytes", static_cast<double>(total));
  out.Set("freeBytes", static_cast<double>(freeBytes));
  return out;
}

// loadModule(image: Uint8Array): module id. The image is a fatbin, cubin or PTX.
Napi::Value LoadModule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  Napi::Uint8Array image = info[0].As<Napi::Uint8Array>();
  // The driver reads the image in place; PTX text must end with a NUL, so copy with one.
  std::vector<unsigned char> copy(image.Data(), image.Data() + image.ByteLength());
  copy.push_back(0);
  CUmodule module = nullptr;
  if (!Check(env, drv.cuModuleLoadData(&module, copy.data()), "cuModuleLoadData"))
    return env.Undefined();
  modules.push_back(module);
  return Napi::Number::New(env, static_cast<double>(modules.size() - 1));
}

// getFunction(moduleId, name): function id.
Napi::Value GetFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  if (id >= modules.size() || modules[id] == nullptr) {
    Napi::Error::New(env, "unknown CUDA module id " + std::to_string(id))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  CUfunction fn = nullptr;
  const std::string call = "cuModuleGetFunction(" + name + ")";
  if (!Check(env, drv.cuModuleGetFunction(&fn, modules[id], name.c_str()), call.c_str()))
    return env.Undefined();
  functions.push_back(fn);
  return Napi::Number::New(env, static_cast<double>(functions.size() - 1));
}

CUfunction FunctionArg(Napi::Env env, const Napi::Value& v) {
  const uint32_t id = v.As<Napi::Number>().Uint32Value();
  if (id >= functions.size()) {
    Napi::Error::New(env, "unknown CUDA function id " + std::to_string(id))
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  return functions[id];
}

// setMaxDynamicShared(functionId, bytes): opt in to more than 48 KiB of shared memory.
Napi::Value SetMaxDynamicShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  CUfunction fn = FunctionArg(env, info[0]);
  if (fn == nullptr) return env.Undefined();
  const int bytes = info[1].As<Napi::Number>().Int32Value();
  Check(env, drv.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes),
        "cuFuncSetAttribute");
  return env.Undefined();
}

// launch(functionId, gx, gy, gz, bx, by, bz, sharedBytes, params: Uint8Array,
// offsets: Uint32Array): the kernel arguments are packed by JavaScript with their natural
// alignment (src/params.ts); offsets[i] is where argument i starts in `params`.
Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  CUfunction fn = FunctionArg(env, info[0]);
  if (fn == nullptr) return env.Undefined();
  unsigned dims[7];
  for (int i = 0; i < 7; i++) dims[i] = info[i + 1].As<Napi::Number>().Uint32Value();
  Napi::Uint8Array params = info[8].As<Napi::Uint8Array>();
  Napi::Uint32Array offsets = info[9].As<Napi::Uint32Array>();
  // 8-byte aligned copy: the driver reads each argument through the pointers below.
  std::vector<uint64_t> storage((params.ByteLength() + 7) / 8 + 1);
  unsigned char* buffer = reinterpret_cast<unsigned char*>(storage.data());
  std::copy(params.Data(), params.Data() + params.ByteLength(), buffer);
  std::vector<void*> args(offsets.ElementLength());
  for (size_t i = 0; i < args.size(); i++) {
    if (offsets[i] >= params.ByteLength()) {
      Napi::Error::New(env, "kernel argument offset out of range").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    args[i] = buffer + offsets[i];
  }
  Check(env,
        drv.cuLaunchKernel(fn, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6],
                           nullptr, args.data(), nullptr),
        "cuLaunchKernel");
  return env.Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  Check(env, drv.cuCtxSynchronize(), "cuCtxSynchronize");
  return env.Undefined();
}

// alloc(bytes): BigInt device address.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const double bytes = info[0].As<Napi::Number>().DoubleValue();
  CUdeviceptr ptr = 0;
  if (!Check(env, drv.cuMemAlloc(&ptr, static_cast<size_t>(bytes)), "cuMemAlloc"))
    return env.Undefined();
  return Napi::BigInt::New(env, static_cast<uint64_t>(ptr));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  Check(env, drv.cuMemFree(ToPtr(info[0])), "cuMemFree");
  return env.Undefined();
}

// upload(ptr, byteOffset, data: TypedArray): host -> device.
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const CUdeviceptr ptr = ToPtr(info[0]) + static_cast<CUdeviceptr>(info[1].As<Napi::Number>().DoubleValue());
  Napi::TypedArray data = info[2].As<Napi::TypedArray>();
  const uint8_t* host = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  if (data.ByteLength() > 0) Check(env, drv.cuMemcpyHtoD(ptr, host, data.ByteLength()), "cuMemcpyHtoD");
  return env.Undefined();
}

// download(ptr, byteOffset, out: TypedArray): device -> host.
Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const CUdeviceptr ptr = ToPtr(info[0]) + static_cast<CUdeviceptr>(info[1].As<Napi::Number>().DoubleValue());
  Napi::TypedArray data = info[2].As<Napi::TypedArray>();
  uint8_t* host = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  if (data.ByteLength() > 0) Check(env, drv.cuMemcpyDtoH(host, ptr, data.ByteLength()), "cuMemcpyDtoH");
  return env.Undefined();
}

// copy(dst, src, bytes): device -> device on the default stream, so it is ordered with
// the kernels before and after it (backend-owned storage moves tokens without the host).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const size_t bytes = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  if (bytes > 0) Check(env, drv.cuMemcpyDtoD(ToPtr(info[0]), ToPtr(info[1]), bytes), "cuMemcpyDtoD");
  return env.Undefined();
}

// memset(ptr, value, bytes).
Napi::Value Memset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireContext(env)) return env.Undefined();
  const unsigned char value = static_cast<unsigned char>(info[1].As<Napi::Number>().Uint32Value());
  const size_t bytes = static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue());
  Check(env, drv.cuMemsetD8(ToPtr(info[0]), value, bytes), "cuMemsetD8");
  return env.Undefined();
}

// dispose(): unloads every module and releases the primary context.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!contextReady) return env.Undefined();
  drv.cuCtxSynchronize();
  for (CUmodule m : modules) {
    if (m != nullptr) drv.cuModuleUnload(m);
  }
  modules.clear();
  functions.clear();
  contextReady = false;
  Check(env, drv.cuDevicePrimaryCtxRelease(device), "cuDevicePrimaryCtxRelease");
  return env.Undefined();
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo));
  exports.Set("loadModule", Napi::Function::New(env, LoadModule));
  exports.Set("getFunction", Napi::Function::New(env, GetFunction));
  exports.Set("setMaxDynamicShared", Napi::Function::New(env, SetMaxDynamicShared));
  exports.Set("launch", Napi::Function::New(env, Launch));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("memset", Napi::Function::New(env, Memset));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  return exports;
}

}  // namespace

NODE_API_MODULE(skvq_cuda, InitAddon)
