"""Copies of issue 10's photo lists with the aspect ratio kept (bench/aspect_ood.sh).

  aspect_ood.py LISTS OUT MODE
LISTS holds train.txt, val.txt and ood.txt (bench/features_ood.sh writes
them); each photo is written to OUT/<set>/<class>/<name>.png as
  pad  - the short side padded to a square with its edge pixels repeated
  crop - the centre square
and OUT/<set>.txt lists the copies, so that `deepfashion features` then
stretches a square to 224 x 224 and the garment keeps its shape. Debian's
python3-torch / torchvision decode and write the photos: a bench script,
not part of the product.
"""
import os
import sys

import torch
import torchvision.io as io

torch.set_num_threads(2)


def square(im, mode):
    _, h, w = im.shape
    if mode == "crop":
        m = min(h, w)
        t, l = (h - m) // 2, (w - m) // 2
        return im[:, t:t + m, l:l + m]
    n = max(h, w)
    t, l = (n - h) // 2, (n - w) // 2
    return torch.nn.functional.pad(im[None], (l, n - w - l, t, n - h - t), mode="replicate")[0]


def main():
    lists, out, mode = sys.argv[1:4]
    if mode not in ("pad", "crop"):
        sys.exit("mode must be pad or crop")
    for s in ("train", "val", "ood"):
        names = []
        for f in open("%s/%s.txt" % (lists, s)).read().split():
            im = square(io.read_image(f, io.ImageReadMode.RGB).float(), mode)
            d = "%s/%s/%s" % (out, s, f.split("/")[-2])
            os.makedirs(d, exist_ok=True)
            p = "%s/%s.png" % (d, os.path.basename(f).rsplit(".", 1)[0])
            io.write_png(im.round().byte(), p, compression_level=1)
            names.append(p)
        open("%s/%s.txt" % (out, s), "w").write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
