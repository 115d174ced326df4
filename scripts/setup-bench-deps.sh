#!/usr/bin/env bash
# Extra Debian packages for the comparison benchmarks in bench/ only (PyTorch
# and h5py); the product and its tests never need them.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends python3-torch python3-torchvision python3-h5py \
  python3-pil bc time
