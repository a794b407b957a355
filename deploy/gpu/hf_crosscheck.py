#!/usr/bin/env python3
"""Cross-check refserver's GPT-2 against Hugging Face transformers.

For each GPT-2 size and checkpoint dtype it builds a GPT2LMHeadModel with
seeded random weights, saves it with save_pretrained (model.safetensors, the
"transformer." prefix, the tied lm_head left out, as transformers writes it),
then:
  * decodes greedily with transformers in float64 (the reference), keeping
    each step's top-1/top-2 margin, and
  * runs `refserver generate --model DIR --greedy --print-ids` on the same
    folder and prompt,
and compares the token ids. A mismatch is accepted only at a step whose
reference margin is below --min-margin (a near tie that float32 may break
either way); any other mismatch fails.

With --speed it also times, on the same pinned CPUs, PyTorch eager float32
(prefill of 128 tokens, single-stream decode with the KV cache) against
`llmbench-dev refserver-bench`, so the two are measured in one run on one machine.

Usage: hf_crosscheck.py --refserver bin/refserver --dev bin/llmbench-dev --out DIR [--sizes 124M,355M] [--speed]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

SIZES = {
    "124M": dict(n_layer=12, n_embd=768, n_head=12),
    "355M": dict(n_layer=24, n_embd=1024, n_head=16),
    "774M": dict(n_layer=36, n_embd=1280, n_head=20),
}
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
PROMPTS = [
    [15496, 995],
    [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13],
    [50256],
    [(i * 7919 + 13) % 50000 for i in range(100)],
]


def log(*a):
    print(*a, flush=True)


def build(size, seed, dtype, folder):
    torch.manual_seed(seed)
    cfg = GPT2Config(**SIZES[size], n_positions=1024, vocab_size=50257)
    m = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # give biases and LayerNorms values, so every weight matters
        for name, p in m.named_parameters():
            if name.endswith(".bias") or ".ln_" in name or name.startswith("transformer.ln_f"):
                p.add_(torch.randn_like(p) * 0.05)
    m.to(DTYPES[dtype]).save_pretrained(folder)  # safetensors is the default format
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        raise RuntimeError(f"save_pretrained wrote no model.safetensors in {folder}: {os.listdir(folder)}")


def reference(folder, prompt, n, device):
    ref = GPT2LMHeadModel.from_pretrained(folder).double().to(device).eval()  # f16/bf16 -> f64 is exact
    ids, margins, past = list(prompt), [], None
    x = torch.tensor([prompt], device=device)
    with torch.no_grad():
        for _ in range(n):
            out = ref(x, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1]
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            nxt = int(top.indices[0])
            if nxt == 50256:  # end-of-text: refserver stops without printing it
                break
            ids.append(nxt)
            x = torch.tensor([[nxt]], device=device)
    return ids[len(prompt):], margins


def ours(refserver, folder, prompt, n):
    cmd = [refserver, "generate", "--model", folder, "--greedy", "--print-ids",
           "--max-tokens", str(n), "--prompt-ids", ",".join(map(str, prompt))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"refserver failed: {p.stderr.strip()}")
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return [int(t) for t in line.split(",") if t]


def compare(want, margins, got, min_margin):
    for i, w in enumerate(want):
        if i >= len(got):
            return "fail", f"refserver stopped after {len(got)} tokens, reference has {len(want)}"
        if got[i] != w:
            if margins[i] < min_margin:
                return "tie", f"step {i}: {got[i]} vs {w} at a near tie (margin {margins[i]:.2e})"
            return "fail", f"step {i}: refserver {got[i]}, reference {w} (margin {margins[i]:.4f})"
    return "ok", f"{len(want)} tokens identical (smallest margin {min(margins):.2e})"


def speed(dev, cpus, out):
    os.sched_setaffinity(0, cpus)
    torch.set_num_threads(len(cpus))
    cfg = GPT2Config(**SIZES["124M"], n_positions=1024, vocab_size=50257)
    m = GPT2LMHeadModel(cfg).eval()
    res = {"cpus": sorted(cpus), "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    x = torch.randint(0, 50000, (1, 128))

    def prefill():  # up to the last position's logits only, as refserver does
        h = m.transformer(x).last_hidden_state
        return m.lm_head(h[:, -1])

    with torch.inference_mode():
        for _ in range(2):
            prefill()
        t = []
        for _ in range(7):
            s = time.perf_counter()
            prefill()
            t.append((time.perf_counter() - s) * 1e3)
        res["torch_prefill_128_ms"] = statistics.median(t)
        out32 = m(x[:, :32], use_cache=True)
        past, nxt, t = out32.past_key_values, out32.logits[:, -1:].argmax(-1), []
        for _ in range(64):
            s = time.perf_counter()
            o = m(nxt, past_key_values=past, use_cache=True)
            past, nxt = o.past_key_values, o.logits[:, -1:].argmax(-1)
            t.append((time.perf_counter() - s) * 1e3)
        res["torch_decode_step_ms"] = statistics.median(t)
    bench_json = os.path.join(out, "refserver_bench.json")
    # The child inherits this process's CPU affinity.
    p = subprocess.run([dev, "refserver-bench", "--threads", str(len(cpus)), "--out", bench_json],
                       capture_output=True, text=True, timeout=400)
    with open(os.path.join(out, "refserver_bench.txt"), "w") as f:
        f.write(p.stdout + p.stderr)
    if p.returncode != 0:
        raise RuntimeError("llmbench-dev refserver-bench failed: " + p.stderr[-2000:])
    with open(bench_json) as f:
        res["refserver"] = json.load(f)
    r = res["refserver"]
    res["prefill_ratio_torch_over_refserver"] = res["torch_prefill_128_ms"] / r["prefill_128_ms"]
    res["decode_ratio_torch_over_refserver"] = res["torch_decode_step_ms"] / r["decode_step_ms"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refserver", required=True)
    ap.add_argument("--dev", default=None, help="llmbench-dev (default: beside --refserver)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--sizes", default="124M,355M")
    ap.add_argument("--dtypes", default="F32,F16,BF16")
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--min-margin", type=float, default=1e-3)
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--cpus", default="2,3")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results, failed = {"device": device, "torch": torch.__version__, "checks": []}, False
    for size in args.sizes.split(","):
        for dtype in args.dtypes.split(","):
            if size != "124M" and dtype != "F32":
                continue  # one dtype per larger size keeps the run short
            folder = os.path.join("/tmp", f"gpt2-{size}-{dtype}")
            t0 = time.time()
            build(size, 1234, dtype, folder)
            for prompt in PROMPTS:
                want, margins = reference(folder, prompt, args.tokens, device)
                got = ours(args.refserver, folder, prompt, args.tokens)
                verdict, why = compare(want, margins, got, args.min_margin)
                failed |= verdict == "fail"
                results["checks"].append(dict(size=size, dtype=dtype, prompt_len=len(prompt),
                                              verdict=verdict, detail=why, reference=want, refserver=got))
                log(f"{size} {dtype} prompt of {len(prompt):3d}: {verdict}: {why}")
            log(f"  ({time.time() - t0:.0f}s)")
    if args.speed:
        results["speed"] = speed(args.dev or os.path.join(os.path.dirname(args.refserver), "llmbench-dev"), {int(c) for c in args.cpus.split(",")}, args.out)
        s = results["speed"]
        log(f"speed on CPUs {s['cpus']}: prefill 128 torch {s['torch_prefill_128_ms']:.0f} ms, "
            f"refserver {s['refserver']['prefill_128_ms']:.0f} ms; decode step torch {s['torch_decode_step_ms']:.1f} ms, "
            f"refserver {s['refserver']['decode_step_ms']:.1f} ms")
    with open(os.path.join(args.out, "hf_crosscheck.json"), "w") as f:
        json.dump(results, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
