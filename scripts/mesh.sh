#!/usr/bin/env bash
# Starts and stops local mesh workers from config files.
#   scripts/mesh.sh start configs/mesh4-w*.toml   start one worker per config, in the background
#   scripts/mesh.sh status [endpoint]             the mesh as seen by one worker
#   scripts/mesh.sh stop                          SIGTERM every started worker (graceful leave),
#                                                 SIGKILL any still running after 5 s
# Logs and PIDs go to ${SHARDMESH_RUN_DIR:-build/mesh-run}. Stops only the PIDs it started.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${SHARDMESH_RUN_DIR:-build/mesh-run}
bin=${SHARDMESH_BIN:-build/release/tools/shardmesh}
mkdir -p "$run"

case "${1:-}" in
  start)
    shift
    [ -x "$bin" ] || { echo "mesh.sh: $bin not built (run scripts/demo.sh or cmake --build build/release)"; exit 1; }
    for cfg in "$@"; do
      name=$(basename "$cfg" .toml)
      "$bin" worker --config "$cfg" >"$run/$name.log" 2>&1 &
      echo $! >"$run/$name.pid"
      echo "started $name (pid $!), log $run/$name.log"
    done
    ;;
  status)
    "$bin" status --connect "${2:-tcp://127.0.0.1:7101}"
    ;;
  stop)
    shopt -s nullglob
    pids=()
    for f in "$run"/*.pid; do
      pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" && pids+=("$pid"); fi
      rm -f "$f"
    done
    for _ in $(seq 50); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" && echo "killed $pid"; done
    echo "stopped ${#pids[@]} worker(s)"
    ;;
  *)
    echo "usage: scripts/mesh.sh start CONFIG... | status [ENDPOINT] | stop"; exit 2;;
esac
