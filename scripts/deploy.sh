#!/usr/bin/env bash
# Deploys a pipeline folder (config.yaml + jobs/*.yaml) with RDI.DEPLOY through redis-cli.
# Usage: scripts/deploy.sh DIR [redis-cli options...]
set -euo pipefail
dir=${1:?usage: deploy.sh DIR [redis-cli options]}; shift
top=$(cd "$(dirname "$0")/.." && pwd)
cli=${REDIS_CLI:-$top/.deps/bin/redis-cli}
args=(RDI.DEPLOY CONFIG "$(cat "$dir/config.yaml")")
for f in "$dir"/jobs/*.yaml; do
  [ -e "$f" ] || continue
  args+=(JOB "$(basename "$f" .yaml)" "$(cat "$f")")
done
out=$("$cli" "$@" "${args[@]}")
echo "$out"
case "$out" in ERR*|READONLY*|*"(error)"*) exit 1 ;; esac
