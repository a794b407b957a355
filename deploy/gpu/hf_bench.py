#!/usr/bin/env python3
"""Hugging Face transformers' GPT2LMHeadModel measured as `llmbench-dev
device-bench` measures refserver, for deploy/gpu/verify.sh's side-by-side
table: random weights with the 124M config, on one device, `generate` with the
KV cache, greedy, a fixed number of new tokens.

  prefill_128_ms   one forward pass over a 128-token prompt (use_cache)
  single_tpot_ms   (t(T) - t(1)) / (T - 1) for one sequence
  decode_tok_s     N(T-1) / (t(T) - t(1)) for N sequences at once

t(T) is the time `generate` takes for T new tokens, so t(T) - t(1) is the
decode without the prefill. Each figure is the median of --reps runs after a
warm-up. Writes one JSON object per variant (dtype x attention) to --out.
"""
import argparse
import json
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtypes", default="fp16,fp32")
    ap.add_argument("--attn", default="eager,sdpa", help="attention implementations to try")
    ap.add_argument("--compile", action="store_true", help="also torch.compile the model (slow to start)")
    ap.add_argument("--concurrency", default="1,8,32,64,128")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        import torch
        import transformers
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError as e:
        print(f"hf_bench: skipped: {e} (PyTorch and transformers are needed)", file=sys.stderr)
        return 3
    if args.device == "cuda" and not torch.cuda.is_available():
        print("hf_bench: skipped: torch sees no CUDA device", file=sys.stderr)
        return 3
    dev = torch.device(args.device)
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "device": args.device}
    if args.device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    levels = [int(x) for x in args.concurrency.split(",") if x]

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    results = []
    for dtype_name in args.dtypes.split(","):
        dtype = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
        variants = [(a, False) for a in args.attn.split(",")] + ([("sdpa", True)] if args.compile else [])
        for attn, compiled in variants:
            name = f"transformers {dtype_name} {attn}" + (" compiled" if compiled else "")
            try:
                torch.manual_seed(0)
                model = GPT2LMHeadModel._from_config(GPT2Config(), attn_implementation=attn)
                model = model.to(dev, dtype=dtype).eval()
                if compiled:
                    model.forward = torch.compile(model.forward, mode="reduce-overhead")
            except Exception as e:  # an attention implementation this version lacks
                print(f"hf_bench: {name}: skipped: {e}", file=sys.stderr)
                continue
            vocab = model.config.vocab_size
            gen = torch.Generator(device="cpu").manual_seed(5)

            def prompts(n):
                return torch.randint(0, vocab - 1, (n, args.prompt), generator=gen).to(dev)

            def generate(n, new):
                ids = prompts(n)
                sync()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                                         do_sample=False, use_cache=True, pad_token_id=vocab - 1)
                sync()
                assert out.shape[1] == args.prompt + new, out.shape
                return time.perf_counter() - t0

            def prefill128():
                ids = torch.randint(0, vocab - 1, (1, 128), generator=gen).to(dev)
                sync()
                t0 = time.perf_counter()
                with torch.inference_mode():
                    model(ids, use_cache=True)
                sync()
                return time.perf_counter() - t0

            prefill128(), generate(1, 2)  # warm up
            r = {"name": name, "dtype": dtype_name, "attention": attn, "compiled": compiled, **info,
                 "tokens_per_seq": args.tokens, "prompt_per_seq": args.prompt,
                 "prefill_128_ms": 1e3 * statistics.median(prefill128() for _ in range(args.reps))}
            tT = statistics.median(generate(1, args.tokens) for _ in range(args.reps))
            t1 = statistics.median(generate(1, 1) for _ in range(args.reps))
            r["single_tpot_ms"] = 1e3 * (tT - t1) / (args.tokens - 1)
            r["decode"] = []
            for n in levels:
                try:
                    tT = statistics.median(generate(n, args.tokens) for _ in range(args.reps))
                    t1 = statistics.median(generate(n, 1) for _ in range(args.reps))
                except RuntimeError as e:  # out of memory at a large batch
                    print(f"hf_bench: {name}, {n} sequences: {e}", file=sys.stderr)
                    break
                r["decode"].append({"n": n, "decode_tok_s": n * (args.tokens - 1) / (tT - t1),
                                    "tpot_ms": 1e3 * (tT - t1) / (args.tokens - 1), "seconds": tT, "prefill_s": t1})
            print(f"{name}: prefill 128 {r['prefill_128_ms']:.2f} ms, TPOT {r['single_tpot_ms']:.2f} ms, "
                  + ", ".join(f"{d['n']}: {d['decode_tok_s']:.0f} tok/s" for d in r["decode"]))
            results.append(r)
            del model
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
