#!/usr/bin/python3
"""Checks `--resize nearest` against Pillow's NEAREST (what Keras' load_img
uses) on odd-sized crops of clothing photos: prints how many pixels differ.
Debian's python3-pil; a comparison script, never used by the product.

    bench/compare_pil_nearest.py [CLI] [SHARED]
"""
import glob
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

cli = sys.argv[1] if len(sys.argv) > 1 else "build/deepfashion"
shared = sys.argv[2] if len(sys.argv) > 2 else "../shared"
photos = sorted(glob.glob(f"{shared}/datasets/clothing/train/*/*.jpg"))[:40:4]
worst = total = 0
with tempfile.TemporaryDirectory() as tmp:
    for i, f in enumerate(photos):
        im = Image.open(f).convert("RGB")
        src = im.resize((im.width * 3 // 2 + 7 * i, im.height - 3 * i), Image.BILINEAR)
        src.save(f"{tmp}/src.png")
        for size in (224, 117, 301):
            ref = np.asarray(src.resize((size, size), Image.NEAREST))
            subprocess.run([cli, "augment", f"{tmp}/src.png", "--out", f"{tmp}/out", "--count", "1",
                            "--resize", "nearest", "--size", str(size)], capture_output=True, check=True)
            ours = np.asarray(Image.open(f"{tmp}/out/original.png"))
            worst = max(worst, int((ours != ref).any(axis=2).sum()))
            total += 1
print(f"{total} resizes: at most {worst} pixels differ from Pillow {Image.__version__} NEAREST")
