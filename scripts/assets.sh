#!/usr/bin/env bash
# Finds the data and pretrained weights the demo and the tests use and links
# them under assets/ (git-ignored). Uses ../shared when present; otherwise
# downloads from the public URLs (needs internet; checked by size/MD5).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${DF_SHARED_DIR:-../shared}"
mkdir -p assets

if [ -d "$SHARED/datasets/closet" ] && [ -d "$SHARED/models" ]; then
  SHARED="$(cd "$SHARED" && pwd)"
  ln -sfn "$SHARED/datasets/closet" assets/closet
  ln -sfn "$SHARED/datasets/clothing" assets/clothing
  ln -sfn "$SHARED/images/imagenet" assets/imagenet
  for f in "$SHARED"/models/*.tflite "$SHARED/models/imagenet_labels.txt"; do
    ln -sfn "$f" "assets/$(basename "$f")"
  done
  echo "assets: linked from $SHARED"
else
  echo "assets: $SHARED not found, downloading"
  CORAL=https://github.com/google-coral/test_data/raw/master
  for f in mobilenet_v2_1.0_224_quant.tflite tf2_mobilenet_v2_1.0_224_ptq.tflite \
           mobilenet_v1_1.0_224_quant_embedding_extractor.tflite imagenet_labels.txt \
           cat.bmp bird.bmp grace_hopper.bmp sunflower.bmp parrot.jpg owl.jpg hot_dog.jpg; do
    [ -s "assets/$f" ] || curl -fL --retry 3 -o "assets/$f" "$CORAL/$f"
  done
  mkdir -p assets/imagenet && mv -f assets/*.bmp assets/*.jpg assets/imagenet/ 2>/dev/null || true
  if [ ! -d assets/clothing ]; then
    curl -fL --retry 3 -o assets/clothing.tar.gz \
      https://github.com/alexeygrigorev/clothing-dataset-small/archive/refs/heads/master.tar.gz
    mkdir -p assets/clothing && tar -xzf assets/clothing.tar.gz -C assets/clothing --strip-components=1
    rm -f assets/clothing.tar.gz
  fi
  # The closet set: tops (t-shirt, shirt, longsleeve), bottoms (pants,
  # shorts, skirt) and shoes, at the original's size (42/42/22, 8/8/5).
  if [ ! -d assets/closet ]; then
    pick() { # split class count src...
      local split=$1 cls=$2 n=$3; shift 3
      mkdir -p "assets/closet/$split/$cls"
      for src in "$@"; do ls "assets/clothing/$split/$src"/*.jpg; done | sort | head -n "$n" |
        while read -r f; do cp "$f" "assets/closet/$split/$cls/"; done
    }
    pick train tops 42 t-shirt shirt longsleeve;   pick validation tops 8 t-shirt shirt longsleeve
    pick train bottoms 42 pants shorts skirt;      pick validation bottoms 8 pants shorts skirt
    pick train shoes 22 shoes;                     pick validation shoes 5 shoes
  fi
fi

# Keras VGG16 ImageNet weights without top (optional: only for --backbone vgg16).
VGG=vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
VGG_MD5=6d6bbae143d832006294945121d1f1fc
if [ "${DF_WITH_VGG16:-0}" = 1 ] && [ ! -s "assets/$VGG" ]; then
  curl -fL --retry 3 -o "assets/$VGG.part" \
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/$VGG"
  echo "$VGG_MD5  assets/$VGG.part" | md5sum -c - && mv "assets/$VGG.part" "assets/$VGG"
fi
