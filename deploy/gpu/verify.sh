#!/usr/bin/env bash
# verify.sh: refserver's CUDA backend on a real GPU, in one run, from
# prebuilt binaries (no Go on the GPU machine): `make gpu-bundle` builds
# bin/gpu-bundle.tar.xz, which holds this script, bin/refserver,
# bin/llmbench, bin/llmbench-dev (the benchmarks), bin/cuda.test (the cuda
# package's tests), the scenarios and
# the GPT-2 fixture. On the GPU machine:
#
#   tar xJf gpu-bundle.tar.xz && gpu-bundle/deploy/gpu/verify.sh --out "$OUT/verify"
#   (without xz: python3 -c "import tarfile; tarfile.open('gpu-bundle.tar.xz').extractall()")
#
# Rehearsal on a machine without a GPU (the GPU steps then say they were
# skipped, everything else runs):
#
#   make gpu-bundle && tar xJf bin/gpu-bundle.tar.xz -C /tmp && /tmp/gpu-bundle/deploy/gpu/verify.sh --device cpu --quick --out /tmp/verify
#
# Steps, each writing into --out:
#   1. correctness: the fixture's logits and greedy_16 on the GPU (f32, f16,
#      bf16), the backend contract, synthetic 124M f32 against the CPU
#      backend (4 prompts × 32 greedy tokens), the kernels compiled by this
#      machine's NVRTC                                   -> correctness.log
#   2. the engine beside Hugging Face transformers (GPT2LMHeadModel, random
#      weights, 124M config, generate with the KV cache): prefill of 128
#      tokens, single-stream TPOT, decode throughput at 1..128 sequences;
#      refserver on 2 CPU cores for scale                -> engine.md, *.json
#   3. through HTTP and the load generator: llmbench-dev refserver-bench --http (what
#      HTTP adds to the engine, on the device), scenarios/baseline.js and
#      concurrency-sweep.js against refserver on the GPU, analyzed and
#      reported; scenarios/cpu-vs-gpu.sh against refserver on 2 CPU cores of
#      this machine and on the GPU                      -> runs/, http.md
# Then it prints a summary. Exit status: 1 if a step failed, else 0.
#
# Flags: --device cuda|cpu (default cuda), --out DIR (default verify-out),
# --quick (fewer repetitions and levels: a rehearsal, not a measurement).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
DEVICE=cuda
OUT=verify-out
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "verify.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "verify.sh: --device $DEVICE: want cuda or cpu" >&2; exit 2 ;; esac
mkdir -p "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
REFSERVER=$root/bin/refserver
LLMBENCH=$root/bin/llmbench
DEV=$root/bin/llmbench-dev
CUDATEST=$root/bin/cuda.test
FIXTURES=${LLMBENCH_FIXTURES:-$root/fixtures}
[ -d "$FIXTURES/gpt2-tiny" ] || FIXTURES=$root/../shared/fixtures
for f in "$REFSERVER" "$LLMBENCH" "$DEV" "$CUDATEST"; do
  [ -x "$f" ] || { echo "verify.sh: no $f: run make gpu-bundle (or make build and go test -c -o bin/cuda.test ./refserver/cuda)" >&2; exit 2; }
done
if [ "$QUICK" = 1 ]; then
  LEVELS=1,8; REPS=1; TOKENS=32; HOLD=8s; STEP=4s; SWEEP=1,4,8; RATE=2; DURATION=10s
else
  # About six minutes on an H100 with 16 cores: the device lends 15 in all.
  LEVELS=1,8,32,64,128; REPS=2; TOKENS=128; HOLD=30s; STEP=10s; SWEEP=1,4,16,64; RATE=4; DURATION=30s
fi
[ "$DEVICE" = cpu ] && LEVELS=1,8
DTYPES=f16,f32
[ "$DEVICE" = cpu ] && DTYPES=f32
# The CUDA libraries: the driver's are where the loader looks; cuBLAS and
# NVRTC may be only in the toolkit (refserver also looks there) or inside
# PyTorch's wheels.
extra=$(python3 -c 'import glob, os, nvidia; print(":".join(sorted({os.path.dirname(p) for p in glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib", "lib*.so*"))})))' 2>/dev/null || true)
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64${extra:+:$extra}
status=0
fail() { echo "verify.sh: $*" | tee -a "$OUT/failures.txt" >&2; status=1; }
say() { echo "== $(date +%H:%M:%S) $*"; }
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM

say "environment -> $OUT/env.txt"
{
  echo "device: $DEVICE  quick: $QUICK  date: $(date -u +%FT%TZ)"
  uname -a; echo "cpus: $(nproc)"; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())' 2>&1
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

say "1. correctness -> $OUT/correctness.log"
LLMBENCH_FIXTURES=$FIXTURES "$CUDATEST" -test.run '^(TestGPU|TestCompileKernels|TestEmulatedConformance)' -test.v > "$OUT/correctness.log" 2>&1 \
  || fail "correctness tests failed (see correctness.log)"
grep -E '^(--- |    --- )(PASS|FAIL|SKIP)' "$OUT/correctness.log" | sed 's/^/   /'

say "2. the engine beside transformers -> $OUT/engine.md"
for dt in ${DTYPES//,/ }; do
  "$DEV" device-bench --device "$DEVICE" --dtype "$dt" --concurrency "$LEVELS" --tokens "$TOKENS" --reps "$REPS" \
    --out "$OUT/refserver-$DEVICE-$dt.json" > "$OUT/refserver-$DEVICE-$dt.txt" 2>&1 || fail "llmbench-dev device-bench --device $DEVICE --dtype $dt (see refserver-$DEVICE-$dt.txt)"
done
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  taskset -c 0,1 "$DEV" device-bench --device cpu --threads 2 --concurrency 1,8 --tokens "$TOKENS" --reps "$REPS" \
    --out "$OUT/refserver-cpu2.json" > "$OUT/refserver-cpu2.txt" 2>&1 || fail "llmbench-dev device-bench on 2 CPU cores (see refserver-cpu2.txt)"
fi
hf_device=$DEVICE
python3 "$here/hf_bench.py" --device "$hf_device" --concurrency "$LEVELS" --tokens "$TOKENS" --reps "$REPS" \
  --dtypes "$([ "$DEVICE" = cuda ] && echo fp16,fp32 || echo fp32)" --out "$OUT/hf.json" > "$OUT/hf.txt" 2>&1
case $? in 0) ;; 3) echo "   transformers: $(tail -1 "$OUT/hf.txt")" ;; *) fail "hf_bench.py (see hf.txt)" ;; esac
python3 "$here/table.py" "$OUT" > "$OUT/engine.md" 2>&1 || fail "table.py"
sed 's/^/   /' "$OUT/engine.md"

say "3. through HTTP and the load generator -> $OUT/runs"
if [ "$QUICK" = 1 ]; then httpflags=(--quick); else httpflags=(--http-clients 1,8,16 --http-rounds 4 --http-pairs 2); fi
"$DEV" refserver-bench --only-http --device "$DEVICE" "${httpflags[@]}" --out "$OUT/bench-http-$DEVICE.json" > "$OUT/bench-http-$DEVICE.txt" 2>&1 \
  || fail "llmbench-dev refserver-bench --only-http --device $DEVICE (see bench-http-$DEVICE.txt)"
grep -E '^ +[0-9]+ +[0-9]+ ' "$OUT/bench-http-$DEVICE.txt" | sed 's/^/   bench --http: /'

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start_server() { # name device cores -> sets URL
  local name=$1 dev=$2 cores=$3 p
  p=$(port)
  if [ -n "$cores" ] && command -v taskset >/dev/null; then
    taskset -c "$cores" "$REFSERVER" --device "$dev" --addr "127.0.0.1:$p" > "$OUT/runs/refserver-$name.log" 2>&1 &
  else
    "$REFSERVER" --device "$dev" --addr "127.0.0.1:$p" > "$OUT/runs/refserver-$name.log" 2>&1 &
  fi
  pids+=($!)
  URL=http://127.0.0.1:$p
  for _ in $(seq 1 300); do
    curl -sf "$URL/health" >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  fail "refserver ($name) did not start: $(tail -3 "$OUT/runs/refserver-$name.log")"
  return 1
}
run_scenario() { # name script env...
  local name=$1 script=$2; shift 2
  local args=()
  for kv in "$@"; do args+=(-e "$kv"); done
  "$LLMBENCH" run --run-dir "$OUT/runs/$name" "${args[@]}" "$root/scenarios/$script" > "$OUT/runs/$name.txt" 2>&1
  local rc=$?
  [ $rc = 0 ] || [ $rc = 99 ] || fail "llmbench run $script ($name) exited $rc (see runs/$name.txt)"
  "$LLMBENCH" analyze "$OUT/runs/$name" >> "$OUT/runs/$name.txt" 2>&1 || fail "analyze $name"
  "$LLMBENCH" report "$OUT/runs/$name" >> "$OUT/runs/$name.txt" 2>&1 || fail "report $name"
  grep -E '^\s+(TTFT|TPOT|LLM:)|^VERDICT' "$OUT/runs/$name.txt" | sed "s/^/   $name: /"
}
if start_server gpu "$DEVICE" ""; then
  gpu_url=$URL
  run_scenario "$DEVICE-baseline" baseline.js "TARGET=$gpu_url" "HOLD=$HOLD"
  run_scenario "$DEVICE-sweep" concurrency-sweep.js "TARGET=$gpu_url" "STEP=$STEP" "GAP=1s" "LEVELS=$SWEEP"
  if start_server cpu2 cpu 0,1; then
    CPU_TARGET=$URL GPU_TARGET=$gpu_url CPU_NAME=cpu2 GPU_NAME=$DEVICE RUNS=$OUT/runs RATE=$RATE DURATION=$DURATION \
      LLMBENCH=$LLMBENCH "$root/scenarios/cpu-vs-gpu.sh" > "$OUT/runs/cpu-vs-gpu.txt" 2>&1
    rc=$?
    [ $rc = 0 ] || [ $rc = 99 ] || fail "cpu-vs-gpu.sh exited $rc (see runs/cpu-vs-gpu.txt)"
    grep -iE 'compare|report' "$OUT/runs/cpu-vs-gpu.txt" | tail -3 | sed 's/^/   /'
  fi
fi
cleanup
pids=()

say "summary"
{
  echo "verify.sh --device $DEVICE$([ "$QUICK" = 1 ] && echo ' --quick'), $(date -u +%FT%TZ)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader
  echo
  echo "correctness: $(grep -c -- '--- PASS' "$OUT/correctness.log") passed, $(grep -c -- '--- FAIL' "$OUT/correctness.log") failed, $(grep -c -- '--- SKIP' "$OUT/correctness.log") skipped"
  echo
  cat "$OUT/engine.md"
  echo
  for r in "$OUT"/runs/*.txt; do
    [ -f "$r" ] || continue
    grep -m1 '^VERDICT' "$r" | sed "s|^|$(basename "$r" .txt): |"
  done
  [ -f "$OUT/failures.txt" ] && { echo; echo "FAILURES:"; cat "$OUT/failures.txt"; }
} | tee "$OUT/summary.txt"
exit $status
