#!/bin/bash
# /tmp/exp/run.sh SO PORT: start redis with SO, deploy the capture job into a fresh sqlite file, run -c 50 HSET paused/running
SO=$1; PORT=$2
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
D=/tmp/exp/$PORT; rm -rf $D; mkdir -p $D
python3 -c "import sqlite3; c=sqlite3.connect('$D/cap.db'); c.execute('CREATE TABLE t (id TEXT PRIMARY KEY, f TEXT)'); c.commit()"
$RDI_REDIS_SERVER --port $PORT --bind 127.0.0.1 --save '' --dir $D --loadmodule $SO --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
C="$RDI_REDIS_CLI -p $PORT"
$C RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/cap.db\napplier:\n  on_failed_retry_interval: 1\n")" JOB cap "$(printf 'source:\n  redis:\n    key_pattern: "*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: t\n      keys:\n        - id\n      mapping:\n        - f\n')" > /dev/null
B="$RDI_REDIS_BENCHMARK -p $PORT -q -r 100000"
for r in 1 2 3; do
  $B -n 200000 -c 50 HSET emp:__rand_int__ id __rand_int__ f __rand_int__ | tr '\r' '\n' | tail -1 | grep -o "[0-9.]* requests" | sed "s|^|$SO c50 |"
  $B -n 600000 -P 16 -c 50 HSET emp:__rand_int__ id __rand_int__ f __rand_int__ | tr '\r' '\n' | tail -1 | grep -o "[0-9.]* requests" | sed "s|^|$SO P16 |"
  $C RDI.WAIT 0 >/dev/null 2>&1
done
P=$(cat $D/r.pid); for t in /proc/$P/task/*; do n=$(cat $t/comm); case $n in rdi-writer*|redis-server) echo "$SO $n cpu ticks $(awk '{print $14+$15}' $t/stat)";; esac; done
$C shutdown nosave > /dev/null 2>&1
