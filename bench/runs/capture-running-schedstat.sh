#!/bin/bash
# run4.sh MODE PORT: schedstat (run ns, runqueue wait ns, slices) per thread during -c 50 HSET
MODE=$1; PORT=$2; SO=/work/main/target/release/librdi.so
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
D=/tmp/exp/$PORT; rm -rf $D; mkdir -p $D
python3 -c "import sqlite3; c=sqlite3.connect('$D/cap.db'); c.execute('CREATE TABLE t (id TEXT PRIMARY KEY, f TEXT)'); c.commit()"
$RDI_REDIS_SERVER --port $PORT --bind 127.0.0.1 --save '' --dir $D --loadmodule $SO --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
C="$RDI_REDIS_CLI -p $PORT"
$C RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/cap.db\n")" JOB cap "$(printf 'source:\n  redis:\n    key_pattern: "*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: t\n      keys:\n        - id\n      mapping:\n        - f\n')" > /dev/null
[ $MODE = paused ] && $C RDI.STOP > /dev/null
P=$(cat $D/r.pid)
snap() { for t in /proc/$P/task/*; do echo "$(cat $t/comm)-$(basename $t) $(cat $t/schedstat)"; done 2>/dev/null | sort; }
$RDI_REDIS_BENCHMARK -p $PORT -q -r 100000 -n 100000 -c 50 HSET emp:__rand_int__ id __rand_int__ f __rand_int__ > /dev/null
snap > $D/a; t0=$(date +%s%N); $RDI_REDIS_BENCHMARK -p $PORT -q -r 100000 -n 300000 -c 50 HSET emp:__rand_int__ id __rand_int__ f __rand_int__ 2>&1 | tr '\r' '\n' | grep -E "requests" | tail -1; t1=$(date +%s%N); snap > $D/b
echo "wall ms $(( (t1-t0)/1000000 ))"; join $D/a $D/b | awk '$5-$2>0 {printf "%-22s run %6d ms  runq-wait %6d ms  slices %d\n", $1, ($5-$2)/1e6, ($6-$3)/1e6, $7-$4}'
$C shutdown nosave > /dev/null 2>&1
