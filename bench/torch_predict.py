#!/usr/bin/python3
"""PyTorch baseline for bench/predict_throughput.sh: a folder of phone photos
classified the way PIL + PyTorch users write it.

Per photo: Image.open, ImageOps.exif_transpose (phone photos are stored
sideways), convert("RGB"), torchvision Resize((224, 224)), ToTensor,
Normalize (ImageNet mean/std); batches of --batch photos through
torchvision's mobilenet_v2 features + global average pool + a Linear(1280, 3)
head + softmax, in its fastest fp32 CPU form
(torch.jit.optimize_for_inference(torch.jit.freeze(trace)), channels_last;
random weights: timing only). Decoding happens in the main thread, as in the
usual loop. Prints photos per second over the whole folder: every photo is
timed, from opening the file to its probabilities; building and warming up
the model (two batches of random tensors) is not.

Uses Debian's python3-torch / python3-torchvision / python3-pil: run it with
/usr/bin/python3 (scripts/setup-bench-deps.sh installs them).
"""
import argparse
import os
import sys
import time

try:
    import torch
    import torchvision
    from torchvision import transforms
    from PIL import Image, ImageOps
except ImportError as e:  # pragma: no cover
    sys.exit("torch_predict.py needs python3-torch, python3-torchvision and python3-pil: %s" % e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(os.path.join(r, f) for r, _, fs in os.walk(args.folder) for f in fs
                   if f.lower().endswith((".jpg", ".jpeg", ".png")))
    model = torch.nn.Sequential(torchvision.models.mobilenet_v2().features, torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(1280, 3), torch.nn.Softmax(dim=1)).eval()
    model = model.to(memory_format=torch.channels_last)
    example = torch.rand(args.batch, 3, 224, 224).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))
        for _ in range(2):
            model(example)
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    t0 = time.perf_counter()
    n = 0
    with torch.inference_mode():
        for i in range(0, len(paths), args.batch):
            xs = []
            for p in paths[i:i + args.batch]:
                img = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
                xs.append(tf(img))
            x = torch.stack(xs).to(memory_format=torch.channels_last)
            probs = model(x)
            n += probs.shape[0]
    dt = time.perf_counter() - t0
    print("torch: %d photos in %.2f s: %.2f photos/s" % (n, dt, n / dt))


if __name__ == "__main__":
    main()
