#!/bin/bash
cd /work/main; source .deps/env.sh
OUT=/tmp/exp/ab-slice2.txt; : > $OUT
for r in 1 2 3 4; do for s in none 100000; do
  echo "=== round $r slice $s $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT
  TMP=$(mktemp)
  BENCH_ONLY=memory BENCH_N=500000 RDI_MODULE=$PWD/target/release/librdi.so target/release/rdi-bench > $TMP 2>&1 &
  BP=$!
  if [ $s != none ]; then
    done_pids=""
    while kill -0 $BP 2>/dev/null; do
      for RP in $(pgrep -f "redis-server"); do
        case " $done_pids " in *" $RP "*) ;; *) python3 /tmp/exp/slice.py $RP $s >> $OUT 2>&1; done_pids="$done_pids $RP";; esac
      done; sleep 0.1
    done
  fi
  wait $BP; grep -E "=> (5|7)\.|PING" $TMP >> $OUT; rm -f $TMP
done; done
echo done >> $OUT
