#!/usr/bin/python3
"""Issue 10's last frozen-feature question, answered by measurement: does
fine-tuning the MobileNetV2s' last 1x1 convolution (block 16's 7x7x320 map
-> 1280 channels, ReLU6, mean) together with the linear head move the
out-of-domain score where no head on the frozen features did?

Reads what `build/bench_defaults --dump-maps 1 --cache DIR` writes (block
16's maps of the closet's training photos, their 4 default-recipe variants,
the validation photos and the 2,791 mapped clothing photos; the
convolution's dequantized weights; the labels). A comparison script, not
the product: it uses Debian's python3-torch.

  LP     the default head fitted exactly (L-BFGS): softmax regression on
         standardised features, mean cross-entropy + l2 * sum(V^2), l2 = 1,
         on the 4 x 106 variants. Its ood must match docs/defaults.md's exact
         fit of the default (QAT 0.9652, TF2 0.9767): the control.
  LP-FT  from LP's head, Adam over the variants for E epochs on the
         convolution (all of it, only its bias, or a per-channel scale and
         bias) and the head, with the standardisation frozen at LP's and
         an L2-SP pull mu * sum((W - W0)^2) towards the pretrained weights.

Every row: 5-fold cross-validation on the 106 photos (folds by photo, the
same for every row; mean and standard error), the 21 validation photos and
the out-of-domain photos, for each seed (the seed draws the batches).

  /usr/bin/python3 bench/finetune_ood.py DIR [--seeds 3] [--quick]
"""
import argparse
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as Fn

HW, C_IN = 49, 320


def load(d, name):
    def npy(stem):
        return np.load(f"{d}/{stem}.npy")

    m = {k: torch.from_numpy(npy(f"{name}_b16map_{k}")).reshape(-1, HW, C_IN) for k in ("clean", "val", "ood", "var")}
    y = {k: torch.from_numpy(npy(f"labels_{k}")).reshape(-1).long() for k in ("clean", "val", "ood")}
    n = y["clean"].numel()
    K = m["var"].shape[0] // n
    y["var"] = y["clean"].repeat(K)
    w = torch.from_numpy(npy(f"{name}_conv1_w"))
    b = torch.from_numpy(npy(f"{name}_conv1_b")).reshape(-1)
    return m, y, w, b, K


def feats(x, w, b, bs=512):
    """mean_hw(relu6(x W^T + b)), the graph's features, in blocks."""
    out = []
    for i in range(0, x.shape[0], bs):
        out.append(torch.clamp(x[i:i + bs] @ w.T + b, 0.0, 6.0).mean(1))
    return torch.cat(out)


def lbfgs_head(z, y, l2, classes=3):
    V = torch.zeros(classes, z.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    z = z.double()
    opt = torch.optim.LBFGS([V, c], lr=1, max_iter=500, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = Fn.cross_entropy(z @ V.T + c, y) + l2 * (V * V).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return V.detach().float(), c.detach().float()


def accuracy(logits, y):
    return (logits.argmax(1) == y).float().mean().item()


class Model:
    """conv (W, b or a per-channel scale s and shift t on W0, b0) -> ReLU6 -> mean
    -> (z - mu) / sd -> V z + c."""

    def __init__(self, w0, b0, mu, sd, V, c, mode):
        self.w0, self.b0, self.mu, self.sd, self.mode = w0, b0, mu, sd, mode
        self.V = V.clone().requires_grad_(True)
        self.c = c.clone().requires_grad_(True)
        self.W = w0.clone().requires_grad_(mode == "all")
        self.b = b0.clone().requires_grad_(mode in ("all", "bias", "scale"))
        self.s = torch.ones(w0.shape[0], requires_grad=mode == "scale")

    def params(self):
        p = [self.V, self.c]
        if self.mode == "all":
            p += [self.W, self.b]
        elif self.mode == "bias":
            p += [self.b]
        elif self.mode == "scale":
            p += [self.s, self.b]
        return p

    def weight(self):
        return self.W * self.s[:, None] if self.mode != "all" else self.W

    def logits(self, x, bs=512):
        with torch.no_grad():
            z = feats(x, self.weight(), self.b, bs)
            return ((z - self.mu) / self.sd) @ self.V.T + self.c

    def loss(self, x, y, l2, mu_sp):
        z = torch.clamp(x @ self.weight().T + self.b, 0.0, 6.0).mean(1)
        out = ((z - self.mu) / self.sd) @ self.V.T + self.c
        loss = Fn.cross_entropy(out, y) + l2 * (self.V * self.V).sum()
        if mu_sp > 0:
            loss = loss + mu_sp * (((self.weight() - self.w0) ** 2).sum() + ((self.b - self.b0) ** 2).sum())
        return loss


def fit(xv, yv, w0, b0, cfg, seed):
    """LP, then (cfg["mode"] != "lp") LP-FT; returns the model."""
    z = feats(xv, w0, b0)
    mu, sd = z.mean(0), z.std(0, unbiased=False).clamp_min(1e-6)
    V, c = lbfgs_head((z - mu) / sd, yv, cfg["l2"])
    m = Model(w0, b0, mu, sd, V, c, cfg["mode"] if cfg["mode"] != "lp" else "none")
    if cfg["mode"] == "lp":
        return m
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(m.params(), lr=cfg["lr"])
    n = xv.shape[0]
    for _ in range(cfg["epochs"]):
        order = torch.randperm(n, generator=g)
        for i in range(0, n, 32):
            idx = order[i:i + 32]
            opt.zero_grad()
            m.loss(xv[idx], yv[idx], cfg["l2"], cfg["sp"]).backward()
            opt.step()
    return m


def folds(y, k, seed):
    """Stratified folds of photo indices."""
    g = np.random.default_rng(seed)
    fold = np.zeros(y.numel(), dtype=int)
    for cls in range(int(y.max()) + 1):
        idx = np.flatnonzero(y.numpy() == cls)
        g.shuffle(idx)
        fold[idx] = np.arange(idx.size) % k
    return fold


def evaluate(data, cfg, seeds, quick):
    m, y, w0, b0, K = data
    n = y["clean"].numel()
    cv, val, ood = [], [], []
    for seed in seeds:
        fold = folds(y["clean"], 5, seed)
        for f in range(5) if not quick else []:
            tr = np.flatnonzero(fold != f)
            te = np.flatnonzero(fold == f)
            rows = np.concatenate([tr + k * n for k in range(K)])
            model = fit(m["var"][rows], y["var"][rows], w0, b0, cfg, seed)
            cv.append(accuracy(model.logits(m["clean"][te]), y["clean"][te]))
        model = fit(m["var"], y["var"], w0, b0, cfg, seed)
        val.append(accuracy(model.logits(m["val"]), y["val"]))
        ood.append(accuracy(model.logits(m["ood"]), y["ood"]))
        if cfg["mode"] == "lp":
            break  # an exact fit does not depend on the seed
    cvm = float(np.mean(cv)) if cv else float("nan")
    cvse = float(np.std(cv) / np.sqrt(len(cv))) if cv else float("nan")
    return cvm, cvse, float(np.mean(val)), float(np.mean(ood))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--views", default="qat,tf2")
    ap.add_argument("--quick", action="store_true", help="no cross-validation")
    ap.add_argument("--only", default="", help="rows whose name matches this regular expression")
    a = ap.parse_args()
    torch.set_num_threads(2)
    grid = [dict(name="LP l2=1 (the default, exact)", mode="lp", l2=1.0)]
    for mode in ("bias", "scale", "all"):
        for lr in (1e-4, 1e-3) if mode != "all" else (1e-5, 1e-4, 3e-4, 1e-3):
            for sp in (0.0, 1.0):
                for ep in (5, 20) if lr < 3e-4 else (5, 20, 50):
                    grid.append(dict(name=f"LP-FT {mode} lr={lr:g} sp={sp:g} {ep}ep", mode=mode, l2=1.0, lr=lr, sp=sp,
                                     epochs=ep))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; seeds 1-{a.seeds}")
    print(f"{'view':5} {'candidate':36} {'cv':>13} {'val':>6} {'ood':>7} {'s':>5}")
    for name in a.views.split(","):
        data = load(a.cache, name)
        m, y, w0, b0, K = data
        z = feats(m["val"], w0, b0)
        print(f"# {name}: {y['clean'].numel()} photos x {K} variants, {y['val'].numel()} validation, "
              f"{y['ood'].numel()} out-of-domain; val features' range {z.min():.3f}..{z.max():.3f}")
        for cfg in grid:
            if a.only and not re.search(a.only, cfg["name"]):
                continue
            t0 = time.time()
            cvm, cvse, val, ood = evaluate(data, cfg, range(1, a.seeds + 1), a.quick)
            cv = f"{cvm:.3f}±{cvse:.3f}" if cvm == cvm else "-"
            print(f"{name:5} {cfg['name']:36} {cv:>13} {val:.3f} {ood:.4f} {time.time() - t0:5.0f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
