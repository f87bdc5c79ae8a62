#include "shardmesh/common/fork_generation.h"

#include <pthread.h>

#include <atomic>

namespace shardmesh {
namespace {

std::atomic<std::uint64_t> g_generation{0};

void OnForkInChild() { g_generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::uint64_t ForkGeneration() {
  // A function-local static: after the first call, one guard load (call_once was a call into
  // pthread_once on every sample of StreamingLoader::Next).
  static const bool registered = (::pthread_atfork(nullptr, nullptr, &OnForkInChild), true);
  (void)registered;
  return g_generation.load(std::memory_order_relaxed);
}

}  // namespace shardmesh
