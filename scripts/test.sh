#!/usr/bin/env bash
# Installs what is missing, builds shardmesh, and runs every test:
#   1. optimized build (RelWithDebInfo): unit + integration tests, benchmarks and examples compile
#   2. ASan+UBSan build: unit + integration tests; ThreadSanitizer build: the concurrency tests
#   3. clang libFuzzer build: every fuzz target for a bounded number of runs
#   4. install into a staging prefix and build examples/ against the installed package
#   5. the Python tests (Debian's /usr/bin/python3), when the module is part of the tree
# Usage: scripts/test.sh [--quick]   (--quick: step 1 unit tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${SHARDMESH_JOBS:-$(nproc)}
quick=0
[ "${1:-}" = "--quick" ] && quick=1

bash scripts/install-deps.sh

source scripts/ccache-env.sh

step() { printf '\n==== %s ====\n' "$*"; }
ctest_run() {  # ctest_run <build dir> <label regex>
  (cd "$1" && ctest --output-on-failure --timeout 600 -j "$jobs" -L "$2")
}

step "optimized build"
cmake -S . -B build/release -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSHARDMESH_BUILD_TESTS=ON -DSHARDMESH_BUILD_BENCHMARKS=ON -DSHARDMESH_BUILD_EXAMPLES=ON \
  -DCMAKE_INSTALL_PREFIX="$root/build/stage" >/dev/null
cmake --build build/release -j "$jobs"
if [ $quick = 1 ]; then
  ctest_run build/release unit
  exit 0
fi
step "optimized build: unit and integration tests"
ctest_run build/release 'unit|integration'

step "ASan+UBSan build: unit and integration tests"
cmake -S . -B build/asan -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1" \
  -DSHARDMESH_SANITIZE="address;undefined" -DSHARDMESH_BUILD_BENCHMARKS=OFF \
  -DSHARDMESH_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest_run build/asan 'unit|integration'

step "ThreadSanitizer build: the concurrency tests"
tsan_tests=(streaming_loader_test mesh_node_test dataset_test stream_checkpoint_writer_test
            integration_mesh_loader_threads_test)
cmake -S . -B build/tsan -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1" \
  -DSHARDMESH_SANITIZE=thread -DSHARDMESH_BUILD_BENCHMARKS=OFF -DSHARDMESH_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/tsan -j "$jobs" --target "${tsan_tests[@]}"
for t in "${tsan_tests[@]}"; do
  TSAN_OPTIONS="halt_on_error=1 suppressions=$root/tests/sanitizers/tsan.supp" \
    "$(find build/tsan/tests -type f -name "$t" | head -n 1)" --gtest_brief=1
done

step "libFuzzer build (clang): fuzz targets"
cmake -S . -B build/fuzz -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="-O1" \
  -DCMAKE_CXX_COMPILER=clang++ -DSHARDMESH_BUILD_FUZZERS=ON -DSHARDMESH_BUILD_TESTS=OFF \
  -DSHARDMESH_BUILD_BENCHMARKS=OFF -DSHARDMESH_BUILD_EXAMPLES=OFF \
  -DSHARDMESH_SANITIZE="address;undefined" >/dev/null
cmake --build build/fuzz -j "$jobs"
ctest_run build/fuzz fuzz

step "install, then build examples/ against the installed package"
rm -rf build/stage build/examples-installed
cmake --install build/release >/dev/null
cmake -S examples -B build/examples-installed -G Ninja -DCMAKE_PREFIX_PATH="$root/build/stage" >/dev/null
cmake --build build/examples-installed -j "$jobs"
for example in build/examples-installed/example_*; do
  echo "running $example"
  "$example"
done

if [ -f python/CMakeLists.txt ]; then
  step "Python tests (Debian's /usr/bin/python3)"
  cmake -S . -B build/python -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDMESH_BUILD_PYTHON=ON \
    -DSHARDMESH_BUILD_TESTS=OFF -DSHARDMESH_BUILD_BENCHMARKS=OFF -DSHARDMESH_BUILD_EXAMPLES=OFF \
    -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
  cmake --build build/python -j "$jobs"
  PYTHONPATH="$root/build/python/python" /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
  # The Python example and benchmark run on a small dataset so they never rot (seconds).
  PYTHONPATH="$root/build/python/python" /usr/bin/python3 examples/train_torch.py
  PYTHONPATH="$root/build/python/python" /usr/bin/python3 benchmarks/torch_vs_shardmesh.py \
    --samples 5000 --workdir build/python/bench-smoke
fi

step "all test stages passed"
