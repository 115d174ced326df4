#!/usr/bin/env python3
"""Scores `deepfashion audit --json` against the list bench_audit_plant wrote.

usage: audit_score.py PLANTED.tsv AUDIT.json [NAME]

Per type: planted, reported, found (planted and reported as planted: a leak
or duplicate only with its original as the pair, a mislabeled photo only
with its true class suggested), precision = found / reported, recall =
found / planted. Also the issue's targets: wrong labels among the first 12
mislabeled entries with the right suggestion, and untouched photos flagged
for anything but mislabeled. Standard library only.
"""
import json
import sys


def main():
    planted_path, audit_path = sys.argv[1], sys.argv[2]
    name = sys.argv[3] if len(sys.argv) > 3 else audit_path
    planted = {}
    touched = set()
    for line in open(planted_path, encoding="utf-8"):
        kind, path, other = line.rstrip("\n").split("\t")
        planted.setdefault(kind, []).append((path, other))
        touched.add(path)
    audit = json.load(open(audit_path, encoding="utf-8"))
    issues = audit["issues"]
    by_type = {}
    for it in issues:
        by_type.setdefault(it["type"], []).append(it)

    def found(kind, it):
        for path, other in planted.get(kind, []):
            if kind in ("leak", "duplicate"):
                if {it["path"], it.get("other_path")} == {path, other}:
                    return True
            elif kind == "mislabeled":
                if it["path"] == path and it.get("suggested_class") == other:
                    return True
            elif it["path"] == path:
                return True
        return False

    rows = []
    kinds = ["mislabeled", "leak", "duplicate", "outlier", "dark", "blurry", "bright", "low_resolution"]
    for kind in kinds:
        rep = by_type.get(kind, [])
        hits = [it for it in rep if found(kind, it)]
        n_planted = len(planted.get(kind, []))
        prec = len(hits) / len(rep) if rep else float("nan")
        rec = len(hits) / n_planted if n_planted else float("nan")
        rows.append((kind, n_planted, len(rep), len(hits), prec, rec))
    first12 = by_type.get("mislabeled", [])[:12]
    ml12 = sum(1 for it in first12 if found("mislabeled", it))
    pair_ok = set()
    for kind in ("leak", "duplicate"):
        for it in by_type.get(kind, []):
            if found(kind, it):
                pair_ok.add(it["path"])
    untouched = sorted({it["path"] for it in issues
                        if it["type"] != "mislabeled" and it["path"] not in touched
                        and it["path"] not in pair_ok})
    print(f"## {name}")
    print("| type | planted | reported | found | precision | recall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, n_planted, n_rep, n_hit, prec, rec in rows:
        if n_planted == 0 and n_rep == 0:
            continue
        f = lambda v: "-" if v != v else f"{v:.2f}"
        print(f"| {kind} | {n_planted} | {n_rep} | {n_hit} | {f(prec)} | {f(rec)} |")
    any12 = sum(1 for it in first12 if any(it["path"] == p for p, _ in planted.get("mislabeled", [])))
    print(f"wrong labels among the first 12 mislabeled with the right suggestion: {ml12} of "
          f"{len(planted.get('mislabeled', []))} (with any suggestion: {any12})")
    print(f"untouched photos flagged for anything but mislabeled: {len(untouched)}")
    for p in untouched:
        kinds_of = [it["type"] for it in issues if it["path"] == p]
        print(f"   {p}: {', '.join(kinds_of)}")
    s = audit["summary"]
    print(f"validation accuracy {s['validation_accuracy']}, without leaks "
          f"{s['validation_accuracy_without_leaks']}; audit took {s['seconds']} s (decode "
          f"{s.get('seconds_decode')} s, backbone {s.get('seconds_backbone')} s, folds {s.get('seconds_folds')} s)")


if __name__ == "__main__":
    main()
