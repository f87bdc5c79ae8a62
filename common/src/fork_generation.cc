#include "shardmesh/common/fork_generation.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

namespace shardmesh {
namespace {

std::atomic<std::uint64_t> g_generation{0};

void OnForkInChild() { g_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::uint64_t ForkGeneration() {
  static std::once_flag registered;
  std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, &OnForkInChild); });
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace shardmesh
