// Prefetcher: background threads that read and decode a fixed list of blocks ("slots", in the
// order the consumer will first need them) within a budget, and hand each decoded block to
// the consumer exactly once.
//
// Admission of slot k (the next unclaimed one): always when the consumer has already asked
// for it or will ask for it next (so a budget smaller than the working set, or than one block,
// slows down but never deadlocks); otherwise only while fewer than `max_ahead_blocks` slots
// are claimed beyond the consumer and the decoded bytes held (claimed and not yet released)
// plus block k's raw size fit in `max_bytes`.
//
// A consumer that asks for a slot no worker has started decodes it itself instead of sleeping,
// so with one worker the consumer's idle time still goes into decoding. With no worker
// (threads == 0) the consumer decodes every block itself, when it first needs it.
//
// Thread-safety: Acquire and Release are called by one consumer thread; the worker threads
// are internal. The destructor stops and joins the workers (an in-flight read finishes first).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/dataset.h"

namespace shardmesh::loader::internal {

// Counters shared with the loader, updated by the worker threads.
struct PrefetchCounters {
  std::atomic<std::uint64_t> blocks_decoded{0};
  std::atomic<std::uint64_t> bytes_read{0};
  std::atomic<std::uint64_t> bytes_decompressed{0};
  std::atomic<std::uint64_t> decode_nanos{0};
  // Highest raw bytes ever claimed and not yet released (the budget's real use).
  std::atomic<std::uint64_t> peak_bytes_held{0};
};

// CPUs the calling thread may run on (sched_getaffinity), at least 1; 0 if unknown.
std::uint32_t AllowedCpuCount();

struct PrefetchOptions {
  std::uint32_t threads = 1;  // 0: the consumer decodes every block itself
  std::uint32_t max_ahead_blocks = 8;
  std::uint64_t max_bytes = 512ull << 20;
};

class Prefetcher {
 public:
  // Starts the workers on `slot_blocks` (block ids, one per slot). `counters` must outlive
  // the prefetcher.
  Prefetcher(std::shared_ptr<const Dataset> dataset, std::vector<std::uint32_t> slot_blocks,
             PrefetchOptions options, PrefetchCounters* counters);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  // Waits for slot `slot` (slots are acquired in increasing order, each once) and returns its
  // block, or the error its read produced. `*hit` says whether it was ready without waiting.
  Result<std::shared_ptr<const DecodedBlock>> Acquire(std::uint32_t slot, bool* hit);
  // The consumer is done with `slot`: its bytes leave the budget.
  void Release(std::uint32_t slot);

 private:
  enum class SlotState : std::uint8_t { kPending, kLoading, kReady, kFailed, kTaken };
  struct Slot {
    SlotState state = SlotState::kPending;
    std::shared_ptr<const DecodedBlock> block;
    Status error;
  };

  bool CanClaimLocked() const;
  // Whether the consumer should wake an idle worker now (see the hysteresis in the .cc).
  bool ShouldWakeWorkerLocked() const;
  // Reads and decodes `slot` (already claimed by the caller) with `lock` released meanwhile.
  void LoadLocked(std::uint32_t slot, std::unique_lock<std::mutex>& lock);
  void Work();

  const std::shared_ptr<const Dataset> dataset_;
  const std::vector<std::uint32_t> slot_blocks_;
  const PrefetchOptions options_;
  PrefetchCounters* const counters_;

  std::mutex mu_;
  std::condition_variable work_cv_;   // workers: a slot may have become claimable, or stop
  std::condition_variable ready_cv_;  // consumer: a slot finished loading
  std::vector<Slot> slots_;           // guarded by mu_
  std::uint32_t next_claim_ = 0;      // guarded by mu_: next slot a worker will load
  std::uint32_t requested_ = 0;       // guarded by mu_: slots the consumer has asked for
  std::uint64_t bytes_held_ = 0;      // guarded by mu_: raw bytes claimed and not released
  std::uint32_t idle_workers_ = 0;    // guarded by mu_: workers waiting on work_cv_
  bool stop_ = false;                 // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace shardmesh::loader::internal
