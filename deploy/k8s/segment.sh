#!/bin/sh
# llmbench-segment: run one part of a load test that N processes split.
#
#   SEGMENT_INDEX=1 SEGMENT_COUNT=3 llmbench-segment run [flags] script.js
#
# runs
#
#   llmbench run --execution-segment 1/3:2/3 --execution-segment-sequence 0,1/3,2/3,1 [flags] script.js
#
# Part i of N runs the segment i/N:(i+1)/N of the sequence 0,1/N,...,1, so
# the N parts add up exactly to the whole test (see docs/SCALE.md). It is the
# entry point of the Kubernetes Indexed Job in deploy/k8s, whose pods get
# their index in SEGMENT_INDEX (or JOB_COMPLETION_INDEX, which the Job
# controller sets); the llmbench image has it as /usr/local/bin/llmbench-segment.
#
#   SEGMENT_INDEX   this part, 0 to SEGMENT_COUNT-1 (default $JOB_COMPLETION_INDEX)
#   SEGMENT_COUNT   the number of parts, N >= 1: the Job's completions
#   START_AT        optional Unix time (seconds) to start at, so that parts
#                   whose pods started at different times begin together
#   LLMBENCH        the llmbench binary (default llmbench on PATH)
#
# It is POSIX sh (busybox ash in the image), and the tests in deploy/ run it.
set -eu

prog=llmbench-segment
die() {
	echo "$prog: $*" >&2
	exit 104 # llmbench's exit code for bad options
}
is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
}

i=${SEGMENT_INDEX:-${JOB_COMPLETION_INDEX:-}}
n=${SEGMENT_COUNT:-}
is_uint "$i" || die "SEGMENT_INDEX (or JOB_COMPLETION_INDEX) must be a whole number, got '$i'"
is_uint "$n" || die "SEGMENT_COUNT must be a whole number, got '$n'"
# Leading zeros would make some shells read octal.
strip0() {
	v=$1
	while case $v in 0?*) true ;; *) false ;; esac do v=${v#0}; done
	echo "$v"
}
i=$(strip0 "$i")
n=$(strip0 "$n")
[ "$n" -ge 1 ] || die "SEGMENT_COUNT must be at least 1"
[ "$i" -lt "$n" ] || die "SEGMENT_INDEX $i is not below SEGMENT_COUNT $n"
[ "$#" -ge 1 ] && [ "$1" = run ] || die "usage: $prog run [llmbench run flags] script.js"
shift

# from and to as fractions of n, with 0 and 1 written plainly.
frac() {
	if [ "$1" -eq 0 ]; then echo 0; elif [ "$1" -eq "$n" ]; then echo 1; else echo "$1/$n"; fi
}
segment="$(frac "$i"):$(frac $((i + 1)))"
sequence=0
k=1
while [ "$k" -le "$n" ]; do
	sequence="$sequence,$(frac "$k")"
	k=$((k + 1))
done

if [ -n "${START_AT:-}" ]; then
	is_uint "$START_AT" || die "START_AT must be a Unix time in seconds, got '$START_AT'"
	now=$(date +%s)
	if [ "$START_AT" -gt "$now" ]; then
		echo "$prog: part $i of $n waits $((START_AT - now)) s for START_AT" >&2
		sleep $((START_AT - now))
	fi
fi

echo "$prog: part $i of $n: --execution-segment $segment --execution-segment-sequence $sequence" >&2
exec "${LLMBENCH:-llmbench}" run --execution-segment "$segment" --execution-segment-sequence "$sequence" "$@"
