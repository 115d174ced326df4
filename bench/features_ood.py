"""Exact softmax regression on cached features (bench/features_ood.sh).

For each combination of feature sources (their columns side by side):
standardise with the training photos' mean and deviation, fit the
penalised softmax regression (mean cross-entropy + L2 * |W|^2, double
precision, L-BFGS to convergence) for each L2 of the grid, and report
5-fold stratified cross-validation on the 106 training photos (seeds 1-3:
mean and standard error over the 15 folds), accuracy on the 21 closet
validation photos and on the 2,791 mapped clothing photos. The one-SE
rule picks, per combination, the strongest L2 whose cv is within one
standard error of the best. A bench script (Debian's python3-torch), not
part of the product.
"""
import sys

import numpy as np
import torch

torch.set_num_threads(2)
CLASS = {"t-shirt": 2, "shirt": 2, "longsleeve": 2, "tops": 2,
         "pants": 0, "shorts": 0, "skirt": 0, "bottoms": 0, "shoes": 1}
GRID = [10, 3, 1, 0.3, 0.1, 0.03, 0.01]
SETS = ("train", "val", "ood")


def labels(path):
    return np.array([CLASS[line.rstrip("\n").split("/")[-2]] for line in open(path)])


def fit(x, y, l2):
    xt, yt = torch.tensor(x), torch.tensor(y)
    w = torch.zeros(x.shape[1], 3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=1000, tolerance_grad=1e-9, tolerance_change=1e-12,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def accuracy(x, y, wb):
    return float(((x @ wb[0] + wb[1]).argmax(1) == y).mean())


def standardise(train, *others):
    mu, sd = train.mean(0), train.std(0) + 1e-6
    return [(a - mu) / sd for a in (train,) + others]


def folds(y, seed, k=5):
    rng = np.random.default_rng(seed)
    f = np.zeros(len(y), int)
    for c in range(3):
        idx = np.where(y == c)[0]
        rng.shuffle(idx)
        f[idx] = np.arange(len(idx)) % k
    return f


TRANSFORMS = {"sqrt": lambda a: np.sqrt(np.maximum(a, 0)),
              "l2n": lambda a: a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-9)}


def load(cache, source, s):
    """Features of one source ("qat", or "qat:sqrt,l2n" with transforms) for set s."""
    name, _, ts = source.partition(":")
    a = np.load("%s/%s_%s.npy" % (cache, name, s)).astype(np.float64)
    for t in filter(None, ts.split(",")):
        a = TRANSFORMS[t](a)
    return a


def main():
    cache, combos = sys.argv[1], sys.argv[2:]
    y = {s: labels("%s/%s.txt" % (cache, s)) for s in SETS}
    print("| features | L2 | cv (mean ± SE, 15 folds) | closet val | ood (2,791) |")
    print("| --- | --- | --- | --- | --- |")
    for combo in combos:
        x = {s: np.concatenate([load(cache, src, s) for src in combo.split("+")], 1) for s in SETS}
        rows = []
        for l2 in GRID:
            scores = []
            for seed in (1, 2, 3):
                f = folds(y["train"], seed)
                for k in range(5):
                    tr, te = standardise(x["train"][f != k], x["train"][f == k])
                    scores.append(accuracy(te, y["train"][f == k], fit(tr, y["train"][f != k], l2)))
            tr, va, od = standardise(x["train"], x["val"], x["ood"])
            wb = fit(tr, y["train"], l2)
            rows.append((l2, np.mean(scores), np.std(scores, ddof=1) / np.sqrt(len(scores)),
                         accuracy(va, y["val"], wb), accuracy(od, y["ood"], wb)))
        best = max(rows, key=lambda r: r[1])
        pick = next(r for r in rows if r[1] >= best[1] - best[2])  # GRID is strongest first
        for r in rows:
            mark = " (rule)" if r is pick else ""
            print("| %s | %g%s | %.3f ± %.3f | %.3f | %.4f |" % (combo, r[0], mark, r[1], r[2], r[3], r[4]),
                  flush=True)


if __name__ == "__main__":
    main()
