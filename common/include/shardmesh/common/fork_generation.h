// Fork detection for objects that run threads: fork() copies the process with only the
// calling thread, so a loader created before a fork has, in the child, threads that do not
// exist (waiting for them hangs, joining them is undefined) and mutexes possibly held by them.
// ForkGeneration() counts the forks in this process's ancestry since the first call (a
// pthread_atfork child handler increments it): an object records it at creation and compares
// at its waits; one relaxed atomic load, cheap enough for a per-block check.
//
// Thread-safety: any thread.
#pragma once

#include <cstdint>

namespace shardmesh {

// The number of fork()s between the first call (in any ancestor) and now, in this process.
std::uint64_t ForkGeneration();

}  // namespace shardmesh
