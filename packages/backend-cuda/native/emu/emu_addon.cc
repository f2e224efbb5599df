// Host emulator addon: the same JavaScript interface as cuda_addon.cc, but "device"
// memory is host memory and launch() runs the kernels of src/cuda/*.cu on the CPU through
// host-shim.h. Lets the whole backend (host kernels, attention runner, argument packing,
// the kernels' own logic) be tested on machines without a GPU. Select it with
// createCudaBackend(0, { addon: 'emulator' }) or SKVQ_CUDA_ADDON.
#include <napi.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "host-shim.h"
// The kernels themselves, compiled as C++ for the host.
#include "../../src/cuda/attention.cu"
#include "../../src/cuda/bench.cu"
#include "../../src/cuda/dequantize.cu"
#include "../../src/cuda/quantize.cu"

namespace {

using Invoker = std::function<void(void**)>;

template <typename... A, size_t... I>
void InvokeImpl(void (*kernel)(A...), void** args, std::index_sequence<I...>) {
  kernel(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <typename... A>
Invoker Wrap(void (*kernel)(A...)) {
  return [kernel](void** args) { InvokeImpl(kernel, args, std::index_sequence_for<A...>{}); };
}

const std::vector<std::pair<std::string, Invoker>>& Kernels() {
  static const std::vector<std::pair<std::string, Invoker>> table = {
      {"skvq_quantize_tokens", Wrap(skvq_quantize_tokens)},
      {"skvq_quantize_block_codes", Wrap(skvq_quantize_block_codes)},
      {"skvq_pack_rows", Wrap(skvq_pack_rows)},
      {"skvq_half_to_float", Wrap(skvq_half_to_float)},
      {"skvq_dequantize", Wrap(skvq_dequantize)},
      {"skvq_attend_partial", Wrap(skvq_attend_partial)},
      {"skvq_attend_reduce", Wrap(skvq_attend_reduce)},
      {"skvq_attention_sums", Wrap(skvq_attention_sums)},
      {"dense_fp16_decode_partial", Wrap(dense_fp16_decode_partial)},
      {"skvq_fill_bytes", Wrap(skvq_fill_bytes)},
      {"skvq_fill_half", Wrap(skvq_fill_half)},
      {"skvq_fill_fp8_meta", Wrap(skvq_fill_fp8_meta)},
  };
  return table;
}

// The emulated device: few SMs keep the number of (sequentially run) blocks small.
constexpr int kMultiprocessors = 4;
constexpr int kMaxShared = 227 * 1024;
int moduleCount = 0;

void RunGrid(const Invoker& kernel, SkvqDim3 grid, SkvqDim3 block, size_t shared, void** args) {
  const unsigned threads = block.x;
  std::vector<unsigned char> dynamicShared(shared + 16);
  for (unsigned z = 0; z < grid.z; z++) {
    for (unsigned y = 0; y < grid.y; y++) {
      for (unsigned x = 0; x < grid.x; x++) {
        SkvqBlockContext ctx;
        ctx.block_index = {x, y, z};
        ctx.block_dim = block;
        ctx.grid_dim = grid;
        ctx.barrier = std::make_unique<std::barrier<>>(threads);
        for (unsigned w = 0; w < (threads + 31) / 32; w++) {
          ctx.warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, threads - 32 * w)));
        }
        ctx.slots.assign(threads, 0);
        std::fill(dynamicShared.begin(), dynamicShared.end(), 0xcd);  // garbage, like a GPU
        ctx.dynamicShared = dynamicShared.data();
        skvq_context() = &ctx;
        std::vector<std::thread> pool;
        pool.reserve(threads);
        for (unsigned t = 0; t < threads; t++) {
          pool.emplace_back([&kernel, args, t] {
            threadIdx = {t, 0, 0};
            kernel(args);
          });
        }
        for (auto& th : pool) th.join();
        skvq_context() = nullptr;
      }
    }
  }
}

uint64_t ToAddress(const Napi::Value& v) {
  bool lossless = true;
  return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("available", true);
  out.Set("devices", 1);
  out.Set("driverVersion", 0);
  return out;
}

Napi::Value Noop(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }

Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("name", "skvq host emulator (CPU threads)");
  out.Set("computeCapability", "9.0");
  out.Set("multiprocessors", kMultiprocessors);
  out.Set("maxSharedBytesPerBlock", kMaxShared);
  out.Set("totalBytes", 0);
  out.Set("freeBytes", 0);
  return out;
}

Napi::Value LoadModule(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), moduleCount++);
}

Napi::Value GetFunction(const Napi::CallbackInfo& info) {
  const std::string name = info[1].As<Napi::String>().Utf8Value();
  const auto& table = Kernels();
  for (size_t i = 0; i < table.size(); i++) {
    if (table[i].first == name) return Napi::Number::New(info.Env(), static_cast<double>(i));
  }
  Napi::Error::New(info.Env(), "CUDA cuModuleGetFunction(" + name +
                                   ") failed: CUDA_ERROR_NOT_FOUND (500) in the emulator")
      .ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value SetMaxDynamicShared(const Napi::CallbackInfo& info) {
  if (info[1].As<Napi::Number>().Int32Value() > kMaxShared) {
    Napi::Error::New(info.Env(), "CUDA cuFuncSetAttribute failed: CUDA_ERROR_INVALID_VALUE (1)")
        .ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

Napi::Value Launch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  const auto& table = Kernels();
  if (id >= table.size()) {
    Napi::Error::New(env, "unknown CUDA function id").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  unsigned d[7];
  for (int i = 0; i < 7; i++) d[i] = info[i + 1].As<Napi::Number>().Uint32Value();
  if (d[4] != 1 || d[5] != 1 || d[0] == 0 || d[3] == 0 || d[3] > 1024) {
    Napi::Error::New(env, "CUDA cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE (1) in the emulator (1-D blocks of 1..1024 threads)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Uint8Array params = info[8].As<Napi::Uint8Array>();
  Napi::Uint32Array offsets = info[9].As<Napi::Uint32Array>();
  std::vector<uint64_t> storage((params.ByteLength() + 7) / 8 + 1);
  unsigned char* buffer = reinterpret_cast<unsigned char*>(storage.data());
  std::copy(params.Data(), params.Data() + params.ByteLength(), buffer);
  std::vector<void*> args(offsets.ElementLength());
  for (size_t i = 0; i < args.size(); i++) args[i] = buffer + offsets[i];
  RunGrid(table[id].second, SkvqDim3{d[0], d[1], d[2]}, SkvqDim3{d[3], d[4], d[5]}, d[6],
          args.data());
  return env.Undefined();
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  const size_t bytes = static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue());
  void* p = std::aligned_alloc(256, ((bytes + 255) / 256) * 256);
  if (p == nullptr) {
    Napi::Error::New(info.Env(), "CUDA cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2)")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  std::memset(p, 0xcd, bytes);  // uninitialised, like cuMemAlloc
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)));
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  std::free(reinterpret_cast<void*>(static_cast<uintptr_t>(ToAddress(info[0]))));
  return info.Env().Undefined();
}

unsigned char* Host(const Napi::CallbackInfo& info) {
  return reinterpret_cast<unsigned char*>(static_cast<uintptr_t>(ToAddress(info[0]))) +
         static_cast<size_t>(info[1].As<Napi::Number>().DoubleValue());
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::TypedArray data = info[2].As<Napi::TypedArray>();
  const uint8_t* src = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  std::memcpy(Host(info), src, data.ByteLength());
  return info.Env().Undefined();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  Napi::TypedArray data = info[2].As<Napi::TypedArray>();
  uint8_t* dst = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  std::memcpy(dst, Host(info), data.ByteLength());
  return info.Env().Undefined();
}

// copy(dst, src, bytes): memmove, like cuMemcpyDtoD (ranges of one buffer may overlap).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  std::memmove(reinterpret_cast<void*>(static_cast<uintptr_t>(ToAddress(info[0]))),
               reinterpret_cast<const void*>(static_cast<uintptr_t>(ToAddress(info[1]))),
               static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

Napi::Value Memset(const Napi::CallbackInfo& info) {
  unsigned char* p = reinterpret_cast<unsigned char*>(static_cast<uintptr_t>(ToAddress(info[0])));
  std::memset(p, static_cast<int>(info[1].As<Napi::Number>().Uint32Value()),
              static_cast<size_t>(info[2].As<Napi::Number>().DoubleValue()));
  return info.Env().Undefined();
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, Probe));
  exports.Set("init", Napi::Function::New(env, Noop));
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfo));
  exports.Set("loadModule", Napi::Function::New(env, LoadModule));
  exports.Set("getFunction", Napi::Function::New(env, GetFunction));
  exports.Set("setMaxDynamicShared", Napi::Function::New(env, SetMaxDynamicShared));
  exports.Set("launch", Napi::Function::New(env, Launch));
  exports.Set("synchronize", Napi::Function::New(env, Noop));
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("memset", Napi::Function::New(env, Memset));
  exports.Set("dispose", Napi::Function::New(env, Noop));
  return exports;
}

}  // namespace

NODE_API_MODULE(skvq_cuda_emu, InitAddon)
