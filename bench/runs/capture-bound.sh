#!/bin/bash
# capexp.sh: capture HSET -P 16 / -c 50 against servers: none, exp.so with RDI_EXP=0 (as built), 1 (no StreamAdd), 2 (no Replicate), 3 (neither); writers paused
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
# SO: a build with bench/runs/capture-bound.patch applied (an experiment, never committed)
SO=${SO:-/tmp/exp/exp.so}
start() { # PORT MODE
  D=/tmp/exp/c$1; rm -rf $D; mkdir -p $D
  M=""; [ "$2" != none ] && M="--loadmodule $SO"
  env RDI_EXP=$2 $RDI_REDIS_SERVER --port $1 --bind 127.0.0.1 --save '' --dir $D $M --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
  if [ "$2" != none ]; then
    python3 -c "import sqlite3; c=sqlite3.connect('$D/cap.db'); c.execute('CREATE TABLE t (id TEXT PRIMARY KEY, f TEXT)'); c.commit()"
    $RDI_REDIS_CLI -p $1 RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/cap.db\n")" JOB cap "$(printf 'source:\n  redis:\n    key_pattern: "*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: t\n      keys:\n        - id\n      mapping:\n        - f\n')" > /dev/null
    $RDI_REDIS_CLI -p $1 RDI.STOP > /dev/null
  fi
}
start 7100 none; start 7101 0; start 7102 1; start 7103 2; start 7104 3
for r in 1 2 3 4 5; do
  for p in 7100 7101 7102 7103 7104; do
    P=$(cat /tmp/exp/c$p/r.pid); t0=$(awk '{print $14+$15}' /proc/$P/task/$P/stat)
    a=$($RDI_REDIS_BENCHMARK -p $p -q -r 100000 -n 1000000 -P 16 -c 50 HSET emp:__rand_int__ id __rand_int__ f __rand_int__ | tr '\r' '\n' | grep -o "[0-9.]* requests" | tail -1)
    t1=$(awk '{print $14+$15}' /proc/$P/task/$P/stat)
    echo "round $r port $p P16 $a main-thread-ticks-per-1M $((t1-t0))"
    $RDI_REDIS_CLI -p $p DEL __rdi__:queue:cap > /dev/null
  done
done
for p in 7100 7101 7102 7103 7104; do $RDI_REDIS_CLI -p $p shutdown nosave > /dev/null 2>&1; done
