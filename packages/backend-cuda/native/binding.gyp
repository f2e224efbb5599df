{
  "targets": [
    {
      "target_name": "skvq_cuda",
      "sources": ["cuda_addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "skvq_cuda_emu",
      "sources": ["emu/emu_addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_DISABLE_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++20", "-O2", "-ffp-contract=off", "-fno-strict-aliasing", "-pthread", "-Wno-unused-function", "-Wno-unknown-pragmas"],
      "ldflags": ["-pthread"]
    }
  ]
}
