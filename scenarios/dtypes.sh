#!/usr/bin/env bash
# dtypes: refserver with its weights in f32, bf16 and int8 under the same
# load, then comparison reports of each against the first.
#
# For each weight type in DTYPES it starts a local refserver on a free
# loopback port with --dtype TYPE (one at a time, so that they never share
# the CPUs), runs one scenario script against it (open-loop.js: Poisson
# arrivals at a fixed rate, the same SEED, so every type gets the very same
# arrival times), analyzes the run and writes its report. Then it writes a
# comparison page of each later type against the first (bf16 vs f32, int8
# vs f32). Run it from the repository root after `make build`:
#
#   scenarios/dtypes.sh                                     (synthetic GPT-2 124M, 2 requests/s for 1 minute each)
#   DTYPES="f32 bf16 f16 int8" RATE=4 DURATION=2m scenarios/dtypes.sh
#   REFSERVER_ARGS="--model /models/gpt2" scenarios/dtypes.sh   (a real checkpoint, loaded into each type)
#
# Settings (environment variables):
#   DTYPES="f32 bf16 int8"   the weight types, the first the baseline of the comparisons
#   SCRIPT=scenarios/open-loop.js  the load; its knobs pass through: RATE, DURATION, SEED,
#                            MAX_TOKENS, ARRIVAL, MAX_VUS, SLO_TTFT, SLO_TPOT, SLO_E2E
#   RUNS=runs                where the run folders and the comparison pages go
#   OTLP, JAEGER, PROM       an OTLP endpoint, Jaeger's query address and Prometheus' URL, for
#                            traced runs and a full attribution (the refservers export there too)
#   LLMBENCH=bin/llmbench REFSERVER=bin/refserver REFSERVER_ARGS=  the binaries, and extra
#                            refserver flags (e.g. --model DIR, --threads N)
#
# Each run's run.json records the server's dtype (from /health), and the
# analyzer's verdict names it in its evidence ("device: cpu, int8 weights").
# A run whose thresholds fail (exit 99) is still analyzed and compared; the
# script then exits 99 at the end. Any other failure stops it, and Ctrl-C
# stops the refserver and keeps what was measured.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
LLMBENCH=${LLMBENCH:-$root/bin/llmbench}
REFSERVER=${REFSERVER:-$root/bin/refserver}
SCRIPT=${SCRIPT:-$here/open-loop.js}
RUNS=${RUNS:-runs}
read -r -a types <<<"${DTYPES:-f32 bf16 int8}"

die() { echo "dtypes: $*" >&2; exit 1; }

[ -x "$LLMBENCH" ] || die "no $LLMBENCH: run make build, or set LLMBENCH"
[ -x "$REFSERVER" ] || die "no $REFSERVER: run make build, or set REFSERVER"
[ "${#types[@]}" -ge 2 ] || die "DTYPES=\"${DTYPES:-}\": name at least two weight types (f32, bf16, f16, int8)"
for t in "${types[@]}"; do
  case $t in f32|bf16|f16|int8) ;; *) die "DTYPES: \"$t\" is not a weight type (f32, bf16, f16 or int8)" ;; esac
done

stamp=$(date +%Y%m%d-%H%M%S)
pid=
stop_refserver() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap stop_refserver EXIT
trap 'exit 130' INT TERM

# start_refserver DIR DTYPE: starts refserver on a free loopback port,
# logging to DIR/refserver.log, and sets url once it listens.
url=
start_refserver() {
  local log=$1/refserver.log i
  # shellcheck disable=SC2086 # REFSERVER_ARGS is a list of flags
  "$REFSERVER" --addr 127.0.0.1:0 --dtype "$2" ${OTLP:+--otlp-endpoint "$OTLP"} ${REFSERVER_ARGS:-} >"$log" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do
    url=$(sed -n 's/.*msg="refserver listening" url=\(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$url" ] && return 0
    kill -0 "$pid" 2>/dev/null || die "refserver --dtype $2 exited: $(tail -n 5 "$log")"
    sleep 0.1
  done
  die "refserver --dtype $2 did not listen within 60 s (see $log)"
}

knobs=()
for k in RATE DURATION SEED MAX_TOKENS ARRIVAL PRE_VUS MAX_VUS MAX_ERROR_RATE SLO_TTFT SLO_TPOT SLO_E2E; do
  if [ -n "${!k:-}" ]; then
    knobs+=(-e "$k=${!k}")
  fi
done
trace=()
[ -n "${OTLP:-}" ] && trace+=(--otlp-endpoint "$OTLP")
[ -n "${JAEGER:-}" ] && trace+=(--jaeger "$JAEGER")
[ -n "${PROM:-}" ] && trace+=(--prometheus "$PROM")

status=0
dirs=()
for t in "${types[@]}"; do
  dir=$RUNS/$stamp-$t
  mkdir -p "$dir"
  dirs+=("$dir")
  start_refserver "$dir" "$t"
  echo "dtypes: $SCRIPT against refserver --dtype $t at $url -> $dir"
  rc=0
  "$LLMBENCH" run -q --run-dir "$dir" -e "TARGET=$url" -e PROTOCOL=generate "${knobs[@]}" "${trace[@]}" "$SCRIPT" || rc=$?
  stop_refserver
  case $rc in
    0) ;;
    99) echo "dtypes: $dir: a threshold failed; comparing anyway" >&2; status=99 ;;
    105) echo "dtypes: interrupted; what was measured is in $dir" >&2; exit 130 ;;
    *) die "llmbench run against refserver --dtype $t failed (exit $rc)" ;;
  esac
  "$LLMBENCH" analyze "$dir" >/dev/null
  "$LLMBENCH" report "$dir" >/dev/null
done

pages=()
for i in $(seq 1 $((${#types[@]} - 1))); do
  page=$RUNS/$stamp-${types[i]}-vs-${types[0]}.html
  "$LLMBENCH" analyze -compare "${dirs[0]}" "${dirs[i]}"
  "$LLMBENCH" report -compare -out "$page" "${dirs[0]}" "${dirs[i]}" >/dev/null
  pages+=("$page")
done
echo "dtypes: runs ${dirs[*]}"
echo "dtypes: comparisons ${pages[*]}"
exit "$status"
