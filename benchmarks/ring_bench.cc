// HashRing lookup and rebuild for 1,000 members x 128 vnodes over 100,000 keys, with jump
// consistent hash (Lamping & Veach 2014) measured in the same run as the reference: jump hash
// has no ring and no memory, so it is the floor for a lookup. The goal for Owner() is within
// 2x of it. Run: build/benchmarks/ring_bench
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/ring.h"

namespace {

using shardmesh::mesh::HashRing;

// Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm", figure 1.
std::int32_t JumpConsistentHash(std::uint64_t key, std::int32_t num_buckets) {
  std::int64_t b = -1;
  std::int64_t j = 0;
  while (j < num_buckets) {
    b = j;
    key = key * 2862933555777941757ULL + 1;
    j = static_cast<std::int64_t>(
        static_cast<double>(b + 1) *
        (static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::int32_t>(b);
}

constexpr std::size_t kKeys = 100000;

std::vector<std::string> Members(std::size_t n) {
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back("worker-" + std::to_string(i));
  return out;
}

std::vector<std::uint64_t> Keys() {
  std::vector<std::uint64_t> keys(kKeys);
  for (std::size_t i = 0; i < kKeys; ++i) keys[i] = shardmesh::HashU64(i, 12345);
  return keys;
}

void BM_RingOwnerIndex(benchmark::State& state) {
  const HashRing ring = HashRing::Build(Members(state.range(0)), {.vnodes = 128});
  const std::vector<std::uint64_t> keys = Keys();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::uint64_t k : keys) sum += ring.OwnerIndex(k);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kKeys));
}
BENCHMARK(BM_RingOwnerIndex)->Arg(1000);

void BM_JumpHash(benchmark::State& state) {
  const auto buckets = static_cast<std::int32_t>(state.range(0));
  const std::vector<std::uint64_t> keys = Keys();
  for (auto _ : state) {
    std::uint64_t sum = 0;
    for (std::uint64_t k : keys) sum += static_cast<std::uint64_t>(JumpConsistentHash(k, buckets));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kKeys));
}
BENCHMARK(BM_JumpHash)->Arg(1000);

// Owners(key, 3): the replica set, allocating the result vector each call.
void BM_RingOwners3(benchmark::State& state) {
  const HashRing ring = HashRing::Build(Members(state.range(0)), {.vnodes = 128});
  const std::vector<std::uint64_t> keys = Keys();
  for (auto _ : state) {
    std::size_t total = 0;
    for (std::uint64_t k : keys) total += ring.Owners(k, 3).size();
    benchmark::DoNotOptimize(total);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kKeys));
}
BENCHMARK(BM_RingOwners3)->Arg(1000);

void BM_RingBuild(benchmark::State& state) {
  const std::vector<std::string> members = Members(state.range(0));
  for (auto _ : state) {
    HashRing ring = HashRing::Build(members, {.vnodes = 128});
    benchmark::DoNotOptimize(ring.point_count());
  }
}
BENCHMARK(BM_RingBuild)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_AssignPartitions(benchmark::State& state) {
  const HashRing ring = HashRing::Build(Members(state.range(0)), {.vnodes = 128});
  for (auto _ : state) {
    auto a = shardmesh::mesh::AssignPartitions(ring, static_cast<std::uint32_t>(state.range(1)));
    benchmark::DoNotOptimize(a.cap());
  }
}
BENCHMARK(BM_AssignPartitions)->Args({1000, 10000})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
