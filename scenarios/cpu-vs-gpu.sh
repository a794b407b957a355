#!/usr/bin/env bash
# cpu-vs-gpu: the same load against two targets, then a comparison report.
#
# It runs one scenario script (open-loop.js: Poisson arrivals at a fixed
# rate, the same SEED, so both targets get the very same arrival times)
# against CPU_TARGET and then GPU_TARGET, analyzes both runs, writes each
# run's report and the comparison page of the second against the first.
# Run it from the repository root after `make build`:
#
#   CPU_TARGET=http://cpu-host:8000 GPU_TARGET=http://gpu-host:8000 scenarios/cpu-vs-gpu.sh
#   CPU_TARGET=... GPU_TARGET=... PROTOCOL=openai-completions MODEL=gpt2 RATE=4 DURATION=5m scenarios/cpu-vs-gpu.sh
#   OTLP=127.0.0.1:4317 JAEGER=127.0.0.1:16685 PROM=http://127.0.0.1:9090 CPU_TARGET=... GPU_TARGET=... scenarios/cpu-vs-gpu.sh
#
# Without a GPU: leave both targets unset and it starts two local
# refservers on free loopback ports, one with --max-batch 1 and one with
# --max-batch 8 (LOCAL_BATCH_A, LOCAL_BATCH_B), and compares those: the
# same machinery, a CPU-only difference (batching) to find. It stops them
# when it ends, also on failure or Ctrl-C; their logs go into the run
# folders (refserver.log).
#
#   scenarios/cpu-vs-gpu.sh                                              (synthetic GPT-2 124M, 2 requests/s for 1 minute)
#   REFSERVER_ARGS="--model ../shared/fixtures/gpt2-tiny" RATE=5 DURATION=10s scenarios/cpu-vs-gpu.sh
#
# Settings (environment variables):
#   CPU_TARGET, GPU_TARGET   the two servers' base URLs (A and B of the comparison); both or neither
#   PROTOCOL=generate        generate, openai-completions or openai-chat (CPU_PROTOCOL, GPU_PROTOCOL
#                            for each target when they differ); MODEL for OpenAI-compatible servers
#   CPU_NAME=cpu GPU_NAME=gpu  the runs' names (batch1 and batch8 for the local refservers)
#   SCRIPT=scenarios/open-loop.js  the load; its knobs pass through: RATE, DURATION, SEED,
#                            MAX_TOKENS, ARRIVAL, MAX_VUS, SLO_TTFT, SLO_TPOT, SLO_E2E
#   RUNS=runs                where the run folders and the comparison page go
#   OTLP, JAEGER, PROM       an OTLP endpoint, Jaeger's query address and Prometheus' URL, for
#                            traced runs and a full attribution (otherwise the analysis is from
#                            the client's records only); the targets must export to the same OTLP
#   LLMBENCH=bin/llmbench REFSERVER=bin/refserver REFSERVER_ARGS=  the binaries, and extra
#                            refserver flags for the local ones (e.g. --model DIR)
#
# A run whose thresholds fail (exit 99) is still analyzed and compared;
# the script then exits 99 at the end. Any other failure stops it.
#
# In the comparison page: each part's delta with its significance (is
# decode faster on the GPU, did server_queue vanish with batching), and
# the TTFT, TPOT and goodput of B against A at the same offered load.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
LLMBENCH=${LLMBENCH:-$root/bin/llmbench}
REFSERVER=${REFSERVER:-$root/bin/refserver}
SCRIPT=${SCRIPT:-$here/open-loop.js}
RUNS=${RUNS:-runs}
PROTOCOL=${PROTOCOL:-generate}
CPU_PROTOCOL=${CPU_PROTOCOL:-$PROTOCOL}
GPU_PROTOCOL=${GPU_PROTOCOL:-$PROTOCOL}

die() { echo "cpu-vs-gpu: $*" >&2; exit 1; }

[ -x "$LLMBENCH" ] || die "no $LLMBENCH: run make build, or set LLMBENCH"
if { [ -n "${CPU_TARGET:-}" ] && [ -z "${GPU_TARGET:-}" ]; } || { [ -z "${CPU_TARGET:-}" ] && [ -n "${GPU_TARGET:-}" ]; }; then
  die "set both CPU_TARGET and GPU_TARGET, or neither (two local refservers)"
fi

stamp=$(date +%Y%m%d-%H%M%S)
local_mode=
if [ -z "${CPU_TARGET:-}" ]; then
  local_mode=1
  CPU_NAME=${CPU_NAME:-batch${LOCAL_BATCH_A:-1}}
  GPU_NAME=${GPU_NAME:-batch${LOCAL_BATCH_B:-8}}
fi
CPU_NAME=${CPU_NAME:-cpu}
GPU_NAME=${GPU_NAME:-gpu}
A=$RUNS/$stamp-$CPU_NAME
B=$RUNS/$stamp-$GPU_NAME
mkdir -p "$A" "$B"

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_refserver DIR MAX_BATCH: starts refserver on a free loopback port,
# logging to DIR/refserver.log, and sets url once it listens. It runs in
# this shell (not in $(...)), so that cleanup knows the process.
url=
start_refserver() {
  local dir=$1 batch=$2 log=$1/refserver.log i pid
  [ -x "$REFSERVER" ] || die "no $REFSERVER: run make build, or set REFSERVER"
  # shellcheck disable=SC2086 # REFSERVER_ARGS is a list of flags
  "$REFSERVER" --addr 127.0.0.1:0 --max-batch "$batch" ${REFSERVER_ARGS:-} >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for i in $(seq 1 600); do
    url=$(sed -n 's/.*msg="refserver listening" url=\(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || die "refserver --max-batch $batch exited: $(tail -n 5 "$log")"
    sleep 0.1
  done
  die "refserver --max-batch $batch did not listen within 60 s (see $log)"
}

if [ -n "$local_mode" ]; then
  start_refserver "$A" "${LOCAL_BATCH_A:-1}"
  CPU_TARGET=$url
  start_refserver "$B" "${LOCAL_BATCH_B:-8}"
  GPU_TARGET=$url
  echo "cpu-vs-gpu: local refservers: $CPU_NAME at $CPU_TARGET, $GPU_NAME at $GPU_TARGET"
fi

# The knobs of the load script, passed through when set.
knobs=()
for k in RATE DURATION SEED MAX_TOKENS ARRIVAL PRE_VUS MAX_VUS MAX_ERROR_RATE SLO_TTFT SLO_TPOT SLO_E2E MODEL; do
  if [ -n "${!k:-}" ]; then
    knobs+=(-e "$k=${!k}")
  fi
done
trace=()
[ -n "${OTLP:-}" ] && trace+=(--otlp-endpoint "$OTLP")
[ -n "${JAEGER:-}" ] && trace+=(--jaeger "$JAEGER")
[ -n "${PROM:-}" ] && trace+=(--prometheus "$PROM")

# run DIR TARGET PROTOCOL: one run of the load; a threshold failure (99)
# is remembered, any other failure stops the script.
status=0
run() {
  local rc=0
  echo "cpu-vs-gpu: $SCRIPT against $2 ($3) -> $1"
  "$LLMBENCH" run -q --run-dir "$1" -e "TARGET=$2" -e "PROTOCOL=$3" "${knobs[@]}" "${trace[@]}" "$SCRIPT" || rc=$?
  case $rc in
    0) ;;
    99) echo "cpu-vs-gpu: $1: a threshold failed; comparing anyway" >&2; status=99 ;;
    105) echo "cpu-vs-gpu: interrupted; what was measured is in $1" >&2; exit 130 ;;
    *) die "llmbench run against $2 failed (exit $rc)" ;;
  esac
}

run "$A" "$CPU_TARGET" "$CPU_PROTOCOL"
run "$B" "$GPU_TARGET" "$GPU_PROTOCOL"

for d in "$A" "$B"; do
  "$LLMBENCH" analyze "$d"
  "$LLMBENCH" report "$d"
done
compare=$RUNS/$stamp-$CPU_NAME-vs-$GPU_NAME.html
"$LLMBENCH" analyze -compare "$A" "$B"
"$LLMBENCH" report -compare -out "$compare" "$A" "$B"
echo "cpu-vs-gpu: runs $A and $B; comparison $compare"
exit "$status"
