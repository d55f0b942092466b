#!/bin/bash
# A/B of module builds with rdi-bench, alternating: bench/ab-module.sh OUT ROUNDS /abs/a.so /abs/b.so ...
# (BENCH_ONLY, default memory; BENCH_N, default 500000; BENCH_E2E passed through). For the memory section
# it also prints the redis-server's CPU time (user+sys, /proc/PID/stat) from the end of the load (line
# "4. memory") to the server's exit: idle PING sampling + drain, steadier than rates on a shared machine.
# Needs `cargo build --release -p rdi-bench` first (bench/RESULTS.md §19).
cd "$(dirname "$0")/.." || exit 1
# shellcheck disable=SC1091
source .deps/env.sh
OUT=$1; R=$2; shift 2
: > $OUT
TCK=$(getconf CLK_TCK)
for r in $(seq 1 $R); do
  for so in "$@"; do
    echo "=== round $r module $so (BENCH_ONLY=${BENCH_ONLY:-memory} BENCH_N=${BENCH_N:-500000} BENCH_E2E=${BENCH_E2E:-}) $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT
    TMP=$(mktemp)
    BENCH_ONLY=${BENCH_ONLY:-memory} BENCH_N=${BENCH_N:-500000} RDI_MODULE=$so target/release/rdi-bench > $TMP 2>&1 &
    BP=$!
    if [ "${BENCH_ONLY:-memory}" = memory ]; then
      while ! grep -q "4. memory" $TMP && kill -0 $BP 2>/dev/null; do sleep 0.1; done
      RP=$(pgrep -P $BP redis-server | tail -1)
      c0=$(awk '{print $14+$15}' /proc/$RP/stat 2>/dev/null); c1=$c0
      while [ -e /proc/$RP/stat ]; do c=$(awk '{print $14+$15}' /proc/$RP/stat 2>/dev/null); [ -n "$c" ] && c1=$c; sleep 0.1; done
    fi
    wait $BP
    cat $TMP >> $OUT; rm -f $TMP
    [ -n "$c0" ] && echo "  => cpu: redis-server $(echo "scale=2; ($c1-$c0)/$TCK" | bc) s from end of load to exit" >> $OUT
  done
done
grep -E "^===|=> (5|7|2)\.|=> cpu" $OUT
