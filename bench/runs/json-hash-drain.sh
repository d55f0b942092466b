#!/bin/bash
# jdrain.sh SO PORT KIND(hash|json): 200k writes of 100k keys (2 fields) queued with writers stopped, then drain time into SQLite
SO=$1; PORT=$2; KIND=$3
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
D=/tmp/exp/j$PORT; rm -rf $D; mkdir -p $D
python3 -c "import sqlite3; c=sqlite3.connect('$D/w.db'); c.execute('CREATE TABLE w (id TEXT PRIMARY KEY, name TEXT)'); c.commit()"
$RDI_REDIS_SERVER --port $PORT --bind 127.0.0.1 --save '' --dir $D --loadmodule $RDI_REJSON --loadmodule $SO --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
C="$RDI_REDIS_CLI -p $PORT"
$C RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/w.db\n")" JOB w "$(printf 'source:\n  redis:\n    key_pattern: "w:*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: w\n      keys:\n        - id\n      mapping:\n        - name\n')" > /dev/null
$C RDI.STOP > /dev/null
if [ $KIND = hash ]; then
$RDI_REDIS_BENCHMARK -p $PORT -q -r 100000 -n 200000 -P 16 HSET w:__rand_int__ id __rand_int__ name n__rand_int__ > /dev/null
else
$RDI_REDIS_BENCHMARK -p $PORT -q -r 100000 -n 200000 -P 16 JSON.SET w:__rand_int__ '$' '{"id":"__rand_int__","name":"n__rand_int__"}' > /dev/null
fi
P=$(cat $D/r.pid); m0=$(awk '{print $14+$15}' /proc/$P/task/$P/stat)
T0=$(date +%s.%N); $C RDI.START > /dev/null; $C RDI.WAIT 120000 > /dev/null; T1=$(date +%s.%N)
m1=$(awk '{print $14+$15}' /proc/$P/task/$P/stat)
W=0; for t in /proc/$P/task/*; do n=$(cat $t/comm 2>/dev/null); case $n in rdi-*) W=$((W + $(awk '{print $14+$15}' $t/stat)));; esac; done
echo "$KIND drain $(echo "$T1 - $T0" | bc) s, rows $(python3 -c "import sqlite3; print(sqlite3.connect('$D/w.db').execute('select count(*) from w').fetchone()[0])"), main ticks $((m1-m0)), rdi thread ticks $W"
$C shutdown nosave > /dev/null 2>&1
