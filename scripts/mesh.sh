#!/usr/bin/env bash
# Starts and stops local mesh workers from config files.
#   scripts/mesh.sh start configs/mesh4-w*.toml   start one worker per config, in the background
#   scripts/mesh.sh status [endpoint]             the mesh as seen by one worker
#   scripts/mesh.sh stop                          SIGTERM every started worker (graceful leave),
#                                                 SIGKILL any still running after 5 s
# Logs and PIDs go to ${SHARDMESH_RUN_DIR:-build/mesh-run}. The config files, SHARDMESH_RUN_DIR
# and SHARDMESH_BIN may be relative to the directory it is run in; the workers run in the
# checkout, so relative paths inside a config (data_dir, dataset, ...) are the checkout's. Stops only the PIDs it started. `start` refuses a
# worker whose previous instance is still running, and exits 1 if a worker dies at start-up.
set -euo pipefail
here=$PWD
abs() { case "$1" in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
cd "$(dirname "$0")/.."
run=${SHARDMESH_RUN_DIR:-build/mesh-run}
[ -n "${SHARDMESH_RUN_DIR:-}" ] && run=$(abs "$SHARDMESH_RUN_DIR")
bin=build/release/tools/shardmesh
[ -n "${SHARDMESH_BIN:-}" ] && bin=$(abs "$SHARDMESH_BIN")
mkdir -p "$run"

case "${1:-}" in
  start)
    shift
    [ -x "$bin" ] || { echo "mesh.sh: $bin not built (run scripts/demo.sh or cmake --build build/release)"; exit 1; }
    [ $# -gt 0 ] || { echo "mesh.sh: start needs at least one config file"; exit 2; }
    for cfg in "$@"; do
      [ -f "$(abs "$cfg")" ] || { echo "mesh.sh: no config file $cfg"; exit 2; }
      name=$(basename "$cfg" .toml)
      if [ -f "$run/$name.pid" ] && kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then
        echo "mesh.sh: $name is already running (pid $(cat "$run/$name.pid")); stop it first"
        exit 1
      fi
    done
    started=()
    for cfg in "$@"; do
      name=$(basename "$cfg" .toml)
      "$bin" worker --config "$(abs "$cfg")" >"$run/$name.log" 2>&1 &
      echo $! >"$run/$name.pid"
      started+=("$name")
      echo "started $name (pid $!), log $run/$name.log"
    done
    # A worker with a bad config or a port in use exits at once: say so instead of succeeding.
    sleep 0.5
    failed=0
    for name in "${started[@]}"; do
      if ! kill -0 "$(cat "$run/$name.pid")" 2>/dev/null; then
        echo "mesh.sh: $name exited at start-up:"; tail -n 5 "$run/$name.log" | sed 's/^/  /'
        rm -f "$run/$name.pid"
        failed=1
      fi
    done
    exit $failed
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
