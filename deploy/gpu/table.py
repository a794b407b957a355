#!/usr/bin/env python3
"""Puts verify.sh's engine measurements in one markdown table: refserver's
(refserver-*.json, from `llmbench-dev device-bench`) and Hugging Face
transformers' (hf.json, from hf_bench.py), measured the same way."""
import glob
import json
import os
import sys


def main(folder):
    rows, levels = [], set()
    for path in sorted(glob.glob(os.path.join(folder, "refserver-*.json"))):
        with open(path) as f:
            r = json.load(f)
        b = r["backend"]
        name = "refserver" + (" (2 CPU cores)" if path.endswith("cpu2.json") else "")
        rows.append((name, f"{b['device']} {b.get('name', '')}".strip(), b["dtype"], r["prefill_128_ms"], r["single_tpot_ms"],
                     {d["n"]: d["decode_tok_s"] for d in r["decode"]}))
    hf = os.path.join(folder, "hf.json")
    if os.path.exists(hf):
        with open(hf) as f:
            for r in json.load(f):
                rows.append((r["name"], f"{r['device']} {r.get('gpu', '')}".strip(), r["dtype"], r["prefill_128_ms"],
                             r["single_tpot_ms"], {d["n"]: d["decode_tok_s"] for d in r["decode"]}))
    for r in rows:
        levels.update(r[5])
    levels = sorted(levels)
    print("| engine | device | weights | prefill 128 (ms) | TPOT, 1 stream (ms) | "
          + " | ".join(f"decode tok/s, {n} seq" for n in levels) + " |")
    print("|---|---|---|---:|---:|" + "---:|" * len(levels))
    for name, dev, dt, pre, tpot, dec in rows:
        print(f"| {name} | {dev} | {dt} | {pre:.2f} | {tpot:.2f} | "
              + " | ".join(f"{dec[n]:.0f}" if n in dec else "–" for n in levels) + " |")
    if not rows:
        print("(no measurements)")
    print()
    print("decode tok/s = N·(T−1) / (t(T) − t(1)): generating T tokens for N sequences at once, less generating 1 (the prefills).")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
