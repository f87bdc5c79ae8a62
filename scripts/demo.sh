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
static_total=$(tail -q -n 1 build/demo-rank*.log | awk '{
  for (i = 1; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
  n += v["samples"]; if (v["seconds"] > t) t = v["seconds"] } END { printf "%.0f", n / t }')

# Mesh mode: the same dataset and epoch served by 4 mesh workers on 127.0.0.1. w0 has the
# dataset; the others fetch its catalog, pull the shards the ring gives them (R=2), and each
# consumes the partitions it owns (consistent-hash: mostly from its own store).
echo "mesh mode: 4 workers on 127.0.0.1 place the dataset (R=2) and consume epoch 0"
mesh=build/demo-mesh
rm -rf "$mesh" && mkdir -p "$mesh"
base=$((20000 + RANDOM % 20000))
mpids=()
for i in 0 1 2 3; do
  {
    echo "name = \"w$i\""
    echo "bind = \"tcp://127.0.0.1:$((base + i))\""
    echo "seeds = [\"tcp://127.0.0.1:$base\", \"tcp://127.0.0.1:$((base + 1))\"]"
    echo "data_dir = \"$mesh/w$i\""
    echo "epochs = 1"
    echo "min_members = 4"
    echo "partitions = 64"
    echo "seed = 7"
    echo "log_level = \"warn\""
    if [ "$i" = 0 ]; then echo "dataset = \"$data\""; fi
  } >"$mesh/w$i.toml"
  timeout 300 "$bin" worker --config "$mesh/w$i.toml" >"$mesh/w$i.log" 2>&1 &
  mpids+=($!)
done
status=0
for pid in "${mpids[@]}"; do wait "$pid" || status=1; done
grep -h '^worker' "$mesh"/w*.log || true
[ $status = 0 ] || { echo "demo: a mesh worker failed (see $mesh/w*.log)"; exit 1; }
grep -h '^worker' "$mesh"/w*.log | awk -v static="$static_total" '{
  n += $3; if ($6 + 0 > t) t = $6 + 0; local += $(NF - 5); remote += $(NF - 3) }
  END { printf "mesh total: %d samples in %.3f s with 4 workers = %.0f samples/s (%.0f%% local reads; %.2f x static mode above, same run)\n",
        n, t, n / t, 100 * local / (local + remote), (n / t) / static }'
