#!/bin/bash
# json.sh SO PORT: start redis+RedisJSON (+SO unless SO=none), deploy a capture job, writers paused
SO=$1; PORT=$2
source /work/main/.deps/env.sh; export LD_LIBRARY_PATH=$RDI_STACK_LIBS
D=/tmp/exp/$PORT; rm -rf $D; mkdir -p $D
M="--loadmodule $RDI_REJSON"; [ "$SO" != none ] && M="$M --loadmodule $SO"
$RDI_REDIS_SERVER --port $PORT --bind 127.0.0.1 --save '' --dir $D $M --daemonize yes --pidfile $D/r.pid --logfile $D/r.log; sleep 0.5
C="$RDI_REDIS_CLI -p $PORT"
if [ "$SO" != none ]; then
python3 -c "import sqlite3; c=sqlite3.connect('$D/cap.db'); c.execute('CREATE TABLE t (id TEXT PRIMARY KEY, f TEXT)'); c.commit()"
$C RDI.DEPLOY CONFIG "$(printf "connections:\n  target:\n    type: sqlite\n    path: $D/cap.db\n")" JOB cap "$(printf 'source:\n  redis:\n    key_pattern: "*"\n    trigger: write-behind\noutput:\n  - uses: relational.write\n    with:\n      connection: target\n      table: t\n      keys:\n        - id\n      mapping:\n        - f\n')"
$C RDI.STOP
fi
