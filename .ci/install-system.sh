#!/usr/bin/env bash
# System packages the test suite needs (Debian 12). Root is required to install them; when
# every package is already present nothing is downloaded.
set -euo pipefail
# libegl*/libgles2/mesa: WebGPU in Node (the `webgpu` package, Dawn) on Mesa's OpenGL ES, CPU-only;
# libegl-dev provides the unversioned libEGL.so that dawn.node opens.
# chromium + fonts: the web demo's end-to-end test and WebGPU conformance in headless Chromium
# (SwiftShader), driven by playwright-core with the system browser.
# libxi-dev, libxext-dev, libx11-dev, libgl-dev: headless-gl (`gl`, gpu.js's Node GPU mode)
# builds from source with node-gyp; xvfb + xauth give it the X display it runs under.
PACKAGES=(libegl1 libegl-dev libegl-mesa0 libgl1-mesa-dri libgles2 chromium fonts-dejavu-core fonts-liberation
  libxi-dev libxext-dev libx11-dev libgl-dev xvfb xauth)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
