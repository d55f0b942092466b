#!/bin/bash
# /tmp/exp/wide.sh SO PORT: 200k HSETs of 52-field hashes (100k keys) queued with the writers stopped, then the time to write them into SQLite (job maps id, name)
SO=$1; PORT=$2
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
D=/tmp/exp/w$PORT; rm -rf $D; mkdir -p $D
python3 -c "import sqlite3; c=sqlite3.connect('$D/w.db'); c.execute('CREATE TABLE w (id TEXT PRIMARY KEY, name TEXT)'); c.commit()"
$RDI_REDIS_SERVER --port $PORT --bind 127.0.0.1 --save '' --dir $D --loadmodule $SO --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
C="$RDI_REDIS_CLI -p $PORT"
$C RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/w.db\n")" JOB w "$(printf 'source:\n  redis:\n    key_pattern: "w:*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: w\n      keys:\n        - id\n      mapping:\n        - name\n')" > /dev/null
$C RDI.STOP > /dev/null
ARGS=""; for i in $(seq 1 50); do ARGS="$ARGS f$i value$i"; done
$RDI_REDIS_BENCHMARK -p $PORT -q -r 100000 -n 200000 -P 16 HSET w:__rand_int__ id __rand_int__ name n__rand_int__ $ARGS > /dev/null
T0=$(date +%s.%N); $C RDI.START > /dev/null; $C RDI.WAIT 120000 > /dev/null; T1=$(date +%s.%N)
P=$(cat $D/r.pid); RA=0; for t in /proc/$P/task/*; do n=$(cat $t/comm 2>/dev/null); case $n in redis-server) M=$(awk '{print $14+$15}' $t/stat);; esac; done
echo "$SO drain $(echo "$T1 - $T0" | bc) s, rows $(python3 -c "import sqlite3; print(sqlite3.connect('$D/w.db').execute('select count(*) from w').fetchone()[0])"), main thread ticks $M"
$C shutdown nosave > /dev/null 2>&1
