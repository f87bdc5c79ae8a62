#!/usr/bin/env bash
# The foundation's end-to-end figures in one run, on one dataset:
#   - `shardmesh read --bench` (one rank, 1 prefetch thread) beside its raw limit (pread + LZ4
#     decompression of the same blocks, no parsing) measured inside the same process;
#   - the same with the process pinned to one core (taskset), the "one core" case;
#   - PyTorch DataLoader + DistributedSampler over NumPy memmaps of the same samples
#     (benchmarks/torch_baseline.py, Debian's /usr/bin/python3).
# Usage: benchmarks/read_vs_baselines.sh [samples] [repeats]   (default 700000 samples, ~1 GB
# decompressed, 5 repeats). Needs build/release (scripts/demo.sh or cmake --build build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-700000}
repeats=${2:-5}
bin=${SHARDMESH_BIN:-build/release/tools/shardmesh}
data=build/bench-data-$samples
npy=build/bench-npy-$samples
[ -f "$data/manifest.json" ] || "$bin" gen --out "$data" --samples "$samples" --shards 16 --seed 7
[ -f "$npy/label.npy" ] || "$bin" read "$data" --world-size 1 --rank 0 --export-npy "$npy" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
field() { grep -o "$1=[0-9.]*" | cut -d= -f2; }

echo "dataset: $data ($samples samples)"
for mode in "two cores" "one core"; do
  pin=()
  [ "$mode" = "one core" ] && pin=(taskset -c 0)
  runs=$(for _ in $(seq "$repeats"); do "${pin[@]}" "$bin" read "$data" --world-size 1 --rank 0 --bench; done)
  echo "read --bench ($mode), median of $repeats: samples/s=$(echo "$runs" | field 'samples/s' | median)" \
       "MB/s=$(echo "$runs" | field ' MB/s' | median) raw_limit_MB/s=$(echo "$runs" | field raw_limit_MB/s | median)" \
       "ratio=$(echo "$runs" | field ratio | median)"
done
torch=$(/usr/bin/python3 benchmarks/torch_baseline.py "$npy" --world-size 1 --rank 0)
echo "$torch"
sm=$(for _ in $(seq "$repeats"); do "$bin" read "$data" --world-size 1 --rank 0 --bench; done | field 'samples/s' | median)
tps=$(echo "$torch" | grep -o "samples/s=[0-9.]*" | cut -d= -f2)
echo "shardmesh read vs DataLoader+DistributedSampler: $sm / $tps = $(awk -v a="$sm" -v b="$tps" 'BEGIN {printf "%.1f", a / b}')x"
