#!/usr/bin/python3
"""PyTorch baseline for `deepfashion bench backbone`.

Runs torchvision's vgg16().features and mobilenet_v2().features (random
weights: timing only) on the same number of 224x224 images per batch as the
C benchmark, with the same thread count, in each of the configurations that
make PyTorch fastest on a CPU, and prints the median ms per image of each
(wall clock, and process CPU time of all threads: on a shared machine the
CPU time of a 1-thread run is the one that does not count waiting):

  fp32 nchw            eager, default layout
  fp32 channels_last   eager, NHWC memory format
  fp32 jit-frozen      torch.jit.optimize_for_inference(freeze(trace)), channels_last
  bf16 autocast        torch.autocast('cpu', bfloat16), channels_last

Timing: 2 warm-up batches, then --iters timed batches, median. Uses Debian's
python3-torch / python3-torchvision only (bench script, never the product): run it with
/usr/bin/python3, the interpreter they are installed for.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torchvision
except ImportError as e:  # pragma: no cover
    sys.exit("torch_backbone.py needs python3-torch and python3-torchvision (apt-get install): %s" % e)


def time_it(fn, x, iters):
    """Median wall ms and median process CPU ms (all threads) per batch."""
    with torch.inference_mode():
        for _ in range(2):
            fn(x)
        times, cpu = [], []
        for _ in range(iters):
            t, c = time.perf_counter(), time.process_time()
            fn(x)
            times.append((time.perf_counter() - t) * 1e3)
            cpu.append((time.process_time() - c) * 1e3)
    return statistics.median(times), statistics.median(cpu)


def configs(model, x, bf16_too):
    """Yields (name, callable, input) for each way of running model."""
    yield "fp32 nchw", model, x
    m_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    yield "fp32 channels_last", m_cl, x_cl
    try:
        with torch.inference_mode():
            traced = torch.jit.trace(m_cl, x_cl)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        yield "fp32 jit-frozen", frozen, x_cl
    except Exception as e:  # report, keep going
        print("  fp32 jit-frozen: unavailable (%s)" % e, file=sys.stderr)

    def bf16(inp):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return m_cl(inp)
    if bf16_too:
        yield "bf16 autocast", bf16, x_cl


def capability():
    """ATen's kernel level as torch reports it ("AVX2", "AVX512", ...)."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="vgg16,mobilenet_v2")
    ap.add_argument("--no-bf16", action="store_true",
                    help="skip bf16 autocast (CPUs without native bf16: emulated, minutes, meaningless)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print("torch %s, torchvision %s, %d threads, batch %d, %d timed runs after 2 warm-up, "
          "CPU capability %s" % (torch.__version__, torchvision.__version__, a.threads, a.batch,
                                 a.iters, capability()))
    x = torch.rand(a.batch, 3, 224, 224) * 255 - 120
    for name in a.models.split(","):
        model = getattr(torchvision.models, name)().features.eval()
        for cfg, fn, inp in configs(model, x, not a.no_bf16):
            ms, cpu = time_it(fn, inp, a.iters)
            print("%-13s %-20s %8.2f ms/image %8.2f cpu-ms/image" % (name, cfg, ms / a.batch, cpu / a.batch))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
