#!/usr/bin/env bash
# The main job, on an embedded default: installs what is missing, builds the `shardmesh` CLI,
# generates a synthetic dataset, streams one epoch with 4 local ranks (as torchrun would start
# them) and prints each rank's throughput and the total.
# Usage: scripts/demo.sh [samples]   (default 200000 samples, about 350 MB decompressed)
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-200000}
world=4
jobs=${SHARDMESH_JOBS:-$(nproc)}

bash scripts/install-deps.sh
source scripts/ccache-env.sh
cmake -S . -B build/release -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSHARDMESH_BUILD_PYTHON=ON -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build build/release -j "$jobs" --target shardmesh shardmesh_python
# `import shardmesh` for Debian's python3 from anywhere: a .pth file naming the built package.
site=$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')
if { mkdir -p "$site" && echo "$(pwd)/build/release/python" >"$site/shardmesh-build.pth"; } 2>/dev/null; then
  echo "python: /usr/bin/python3 imports shardmesh from build/release/python ($site/shardmesh-build.pth)"
else
  echo "python: cannot write to $site; use PYTHONPATH=$(pwd)/build/release/python"
fi
bin=build/release/tools/shardmesh

data=build/demo-data-$samples
if [ ! -f "$data/manifest.json" ]; then
  echo "generating $samples samples into $data"
  "$bin" gen --out "$data" --samples "$samples" --shards 8 --seed 7
fi
"$bin" inspect "$data" | head -n 12

echo "streaming epoch 0 with $world ranks"
pids=()
for rank in $(seq 0 $((world - 1))); do
  "$bin" read "$data" --world-size $world --rank "$rank" --seed 7 --bench >"build/demo-rank$rank.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for rank in $(seq 0 $((world - 1))); do printf 'rank %d: %s\n' "$rank" "$(tail -n 1 build/demo-rank$rank.log)"; done
[ $status = 0 ] || { echo "demo: a rank failed (see build/demo-rank*.log)"; exit 1; }
# The ranks ran at the same time: the epoch took as long as the slowest one.
tail -q -n 1 build/demo-rank*.log | awk '{
  for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
  n += v["samples"]; if (v["seconds"] > t) t = v["seconds"] }
  END { printf "total: %d samples in %.3f s with %d ranks = %.0f samples/s\n", n, t, NR, n / t }'
