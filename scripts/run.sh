#!/usr/bin/env bash
# `make run`: starts Redis 7.4 (+ RedisJSON) with the module on 127.0.0.1:6390, deploys the SQLite
# quickstart, writes a few hashes and shows the rows that arrived. `make stop` stops that Redis.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/.deps/env.sh"
port=${RDI_RUN_PORT:-6390}
run="$top/.run"
cli=("$RDI_BIN/redis-cli" -p "$port")

stop() {
  local pid
  pid=$(cat "$run/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "stopped Redis on 127.0.0.1:$port"
  fi
  rm -f "$run/redis.pid"
}
if [ "${1:-}" = stop ]; then stop; exit 0; fi

stop
mkdir -p "$run"
rm -f "$run/quickstart.db" "$run/quickstart.db-wal" "$run/quickstart.db-shm"
# The table starts empty, so Redis does too: keys kept from an earlier run would not match it.
rm -rf "$run/appendonlydir" "$run/dump.rdb"
sqlite3 "$run/quickstart.db" < "$top/examples/quickstart/schema.sql"
"$RDI_BIN/redis-server" --port "$port" --bind 127.0.0.1 --dir "$run" --daemonize yes \
  --pidfile "$run/redis.pid" --logfile "$run/redis.log" --appendonly yes \
  --loadmodule "$RDI_REJSON" --loadmodule "$top/target/release/librdi.so"
# Until PONG: a restart over an existing .run/ loads its AOF first, answering LOADING meanwhile.
for _ in $(seq 1200); do [ "$("${cli[@]}" PING 2>/dev/null)" = PONG ] && break; sleep 0.05; done
echo "== Redis 7.4 with the rdi module on 127.0.0.1:$port (log: .run/redis.log)"

echo "== deploying examples/quickstart"
bash "$top/scripts/deploy.sh" "$top/examples/quickstart" -p "$port"

echo "== writing hashes"
"${cli[@]}" HSET emp:1 first_name Ada last_name Lovelace address London gender F >/dev/null
"${cli[@]}" HSET emp:2 first_name Alan last_name Turing address Manchester gender M >/dev/null
"${cli[@]}" HSET emp:3 first_name Grace last_name Hopper address Arlington gender F >/dev/null
"${cli[@]}" HSET emp:2 address Wilmslow >/dev/null
"${cli[@]}" DEL emp:3 >/dev/null
echo "HSET emp:1, emp:2, emp:3; HSET emp:2 address Wilmslow; DEL emp:3"
"${cli[@]}" RDI.WAIT 10000 >/dev/null

echo "== rows in .run/quickstart.db (table emp)"
sqlite3 -header -column "$run/quickstart.db" "SELECT * FROM emp ORDER BY first_name"

cat <<TXT

Redis keeps running on 127.0.0.1:$port. Try:
  .deps/bin/redis-cli -p $port HSET emp:4 first_name Edsger last_name Dijkstra address Austin gender M
  sqlite3 .run/quickstart.db 'SELECT * FROM emp'
  .deps/bin/redis-cli -p $port RDI.STATUS
  target/release/redis-di --rdi-port $port status
Each run starts from an empty table and an empty Redis. Stop it with: make stop
TXT
