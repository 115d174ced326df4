#!/usr/bin/env bash
# Installs the Debian packages DeepFashion's build, tests and main job need.
# Idempotent; on a fresh Debian 12 machine run it as root, or as a user with
# sudo (it calls sudo itself when it is not root).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libdnnl-dev            # oneDNN: backbone convolutions, pooling, fp32/bf16
  libopenblas-dev        # dense layers of the head
  libxnnpack-dev libpthreadpool-dev   # XNNPACK: int8 execution of the quantized TFLite models
  libcpuinfo-dev         # the DF_CPU_ISA=avx2 cap applied to XNNPACK (core/cpu.h)
  libjpeg62-turbo-dev libpng-dev libexif-dev   # images
  libhdf5-dev            # Keras weight files and model files
  libcairo2-dev          # plots for the report
  fonts-dejavu-core      # the report figures' font (cairo toy text API, "DejaVu Sans")
  chromium               # headless browser: the report's end-to-end test
  libcmocka-dev          # unit tests
  clang libclang-rt-14-dev   # libFuzzer and sanitizer runtimes
)

# npm fetches the web export's runtime (scripts/fetch-web-runtime.sh, from the
# npm registry). Debian's npm only when no npm is installed already.
command -v npm >/dev/null || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
