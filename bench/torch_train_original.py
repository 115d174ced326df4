#!/usr/bin/python3
"""The original DeepFashion recipe written in PyTorch the way its users
would, to time against `deepfashion train --recipe original`.

Keras-like data pipeline: every epoch decodes every photo with PIL, resizes
to 224x224 with NEAREST, augments it (shift 0.2, shear 0.2 deg, zoom 0.8-1.2,
both flips) and rescales; a frozen torchvision backbone (random weights are
fine for timing) in its fastest configuration on this CPU; the same head
(Dense 1024 relu, BatchNorm, Dropout 0.25, Dense softmax); Adam 1e-5, batch
30, 45 epochs of n // 30 steps. 2 threads, like the C side.

    bench/torch_train_original.py --data DIR/train [--backbone mobilenet_v2|vgg16]
        [--mode fp32|channels_last|jit|bf16] [--epochs 45]

Prints the wall time and images/s. Debian's python3-torch only; never used
by the product.
"""
import argparse
import os
import time

import torch
import torch.nn as nn
import torchvision
from PIL import Image
import torchvision.transforms as T

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--backbone", default="mobilenet_v2")
ap.add_argument("--mode", default="jit", choices=["fp32", "channels_last", "jit", "bf16"])
ap.add_argument("--epochs", type=int, default=45)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(1)

classes = sorted(d for d in os.listdir(args.data) if os.path.isdir(os.path.join(args.data, d)))
items = []
for ci, c in enumerate(classes):
    for root, _, files in sorted(os.walk(os.path.join(args.data, c))):
        for f in sorted(files):
            if f.lower().endswith((".jpg", ".jpeg", ".png", ".bmp")):
                items.append((os.path.join(root, f), ci))

augment = T.Compose([
    T.RandomAffine(degrees=0, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=0.2,
                   interpolation=T.InterpolationMode.BILINEAR),
    T.RandomHorizontalFlip(), T.RandomVerticalFlip(), T.ToTensor()])


class Photos(torch.utils.data.Dataset):
    def __len__(self):
        return len(items)

    def __getitem__(self, i):
        path, label = items[i]
        img = Image.open(path).convert("RGB").resize((224, 224), Image.NEAREST)
        return augment(img), label


if args.backbone == "vgg16":
    backbone = torchvision.models.vgg16().features
    feat = 512 * 7 * 7
else:
    backbone = nn.Sequential(torchvision.models.mobilenet_v2().features, nn.AdaptiveAvgPool2d(1))
    feat = 1280
backbone.eval()
for p in backbone.parameters():
    p.requires_grad_(False)
example = torch.rand(30, 3, 224, 224)
if args.mode in ("channels_last", "jit", "bf16"):
    backbone = backbone.to(memory_format=torch.channels_last)
    example = example.to(memory_format=torch.channels_last)
if args.mode == "jit":
    with torch.no_grad():
        backbone = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(backbone, example)))

head = nn.Sequential(nn.Flatten(), nn.Linear(feat, 1024), nn.ReLU(), nn.BatchNorm1d(1024, eps=1e-3, momentum=0.01),
                     nn.Dropout(0.25), nn.Linear(1024, len(classes)))
opt = torch.optim.Adam(head.parameters(), lr=1e-5, eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
loader = torch.utils.data.DataLoader(Photos(), batch_size=30, shuffle=True, num_workers=0)
steps = len(items) // 30

t0 = time.perf_counter()
seen = 0
for epoch in range(args.epochs):
    for step, (x, y) in enumerate(loader):
        if step >= steps:
            break
        if args.mode != "fp32":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            if args.mode == "bf16":
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    f = backbone(x).float()
            else:
                f = backbone(x)
        head.train()
        opt.zero_grad()
        loss = loss_fn(head(f), y)
        loss.backward()
        opt.step()
        seen += x.shape[0]
dt = time.perf_counter() - t0
print(f"pytorch {torch.__version__} {args.backbone} {args.mode}: original recipe {args.epochs} epochs, "
      f"{seen} photos through the backbone in {dt:.1f} s ({seen / dt:.1f} photos/s)")
