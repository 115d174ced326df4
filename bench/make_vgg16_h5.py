#!/usr/bin/python3
"""Writes a VGG16-without-top weights file in the exact Keras HDF5 layout
(SPEC 3: root layer_names with the 18 layers, per-layer weight_names,
'<layer>_W_1:0' / '<layer>_b_1:0' datasets, HWIO kernels) with seeded random
He-normal weights, for timing the VGG16 path where the real ImageNet file
cannot be downloaded. Accuracy figures never come from this file.

    bench/make_vgg16_h5.py OUT.h5 [SEED]
"""
import sys

import h5py
import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
blocks = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
names, cin = [], 3
with h5py.File(out, "w") as f:
    for b, (n, cout) in enumerate(blocks, 1):
        for i in range(1, n + 1):
            name = f"block{b}_conv{i}"
            g = f.create_group(name)
            wn = [f"{name}_W_1:0".encode(), f"{name}_b_1:0".encode()]
            g.attrs["weight_names"] = wn
            k = rng.normal(0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)).astype("float32")
            g.create_dataset(wn[0].decode(), data=k)
            g.create_dataset(wn[1].decode(), data=np.zeros(cout, "float32"))
            names.append(name)
            cin = cout
        pool = f"block{b}_pool"
        f.create_group(pool).attrs["weight_names"] = np.array([], dtype="S1")
        names.append(pool)
    f.attrs["layer_names"] = [n.encode() for n in names]
print(f"{out}: VGG16 notop layout, random weights")
