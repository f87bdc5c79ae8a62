#include "prefetcher.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "shardmesh/common/thread_name.h"

namespace shardmesh::loader::internal {

std::uint32_t AllowedCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  return static_cast<std::uint32_t>(CPU_COUNT(&set));
}

Prefetcher::Prefetcher(std::shared_ptr<const Dataset> dataset,
                       std::vector<std::uint32_t> slot_blocks, PrefetchOptions options,
                       PrefetchCounters* counters)
    : dataset_(std::move(dataset)),
      slot_blocks_(std::move(slot_blocks)),
      options_(options),
      counters_(counters),
      slots_(slot_blocks_.size()) {
  workers_.reserve(options_.threads);
  for (std::uint32_t i = 0; i < options_.threads; ++i)
    workers_.emplace_back([this] {
      SetCurrentThreadName("sm-prefetch");
      Work();
    });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

bool Prefetcher::CanClaimLocked() const {
  if (next_claim_ >= slots_.size()) return false;
  // The consumer has asked for this slot, or it is the next one it will ask for.
  if (next_claim_ <= requested_) return true;
  if (next_claim_ - requested_ >= options_.max_ahead_blocks) return false;
  const std::uint64_t size = dataset_->blocks()[slot_blocks_[next_claim_]].raw_size;
  return bytes_held_ + size <= options_.max_bytes;
}

void Prefetcher::LoadLocked(std::uint32_t slot, std::unique_lock<std::mutex>& lock) {
  const std::uint32_t block = slot_blocks_[slot];
  const BlockInfo& info = dataset_->blocks()[block];
  bytes_held_ += info.raw_size;
  if (bytes_held_ > counters_->peak_bytes_held.load(std::memory_order_relaxed)) {
    counters_->peak_bytes_held.store(bytes_held_, std::memory_order_relaxed);
  }
  slots_[slot].state = SlotState::kLoading;
  lock.unlock();

  const auto start = std::chrono::steady_clock::now();
  auto result = dataset_->ReadBlock(block);
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count();
  if (result.ok()) {
    counters_->blocks_decoded.fetch_add(1, std::memory_order_relaxed);
    counters_->bytes_read.fetch_add(info.compressed_size, std::memory_order_relaxed);
    counters_->bytes_decompressed.fetch_add((*result)->raw_bytes(), std::memory_order_relaxed);
    counters_->decode_nanos.fetch_add(static_cast<std::uint64_t>(nanos), std::memory_order_relaxed);
  }

  lock.lock();
  Slot& s = slots_[slot];
  if (result.ok()) {
    s.block = std::move(result).value();
    s.state = SlotState::kReady;
  } else {
    s.error = result.status().WithContext("block " + std::to_string(block) + " (shard " +
                                          std::to_string(info.shard) + " block " +
                                          std::to_string(info.index_in_shard) + ")");
    s.state = SlotState::kFailed;
  }
  ready_cv_.notify_all();
}

bool Prefetcher::ShouldWakeWorkerLocked() const {
  if (idle_workers_ == 0 || !CanClaimLocked()) return false;
  // Hysteresis: an idle worker is woken only once the lead has fallen to half its maximum,
  // and then fills it back up in one go. Waking it for every released block costs two context
  // switches per block when the consumer and the worker share a core.
  const std::uint32_t lead = next_claim_ > requested_ ? next_claim_ - requested_ : 0;
  return lead <= options_.max_ahead_blocks / 2;
}

void Prefetcher::Work() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (!stop_ && !CanClaimLocked()) {
      ++idle_workers_;
      work_cv_.wait(lock, [this] { return stop_ || CanClaimLocked(); });
      --idle_workers_;
    }
    if (stop_) return;
    LoadLocked(next_claim_++, lock);
  }
}

Result<std::shared_ptr<const DecodedBlock>> Prefetcher::Acquire(std::uint32_t slot, bool* hit) {
  std::unique_lock<std::mutex> lock(mu_);
  if (slot + 1 > requested_) {
    requested_ = slot + 1;
    if (ShouldWakeWorkerLocked()) work_cv_.notify_all();
  }
  Slot& s = slots_[slot];
  *hit = s.state == SlotState::kReady || s.state == SlotState::kFailed;
  if (s.state == SlotState::kPending && next_claim_ == slot) {
    // No worker has started it: the consumer would only sleep, so it decodes the block itself.
    LoadLocked(next_claim_++, lock);
  }
  ready_cv_.wait(lock, [&] {
    return s.state == SlotState::kReady || s.state == SlotState::kFailed ||
           s.state == SlotState::kTaken;
  });
  if (s.state == SlotState::kFailed) return s.error;
  if (s.state == SlotState::kTaken) {
    return Status::Internal("prefetcher: slot " + std::to_string(slot) + " acquired twice");
  }
  s.state = SlotState::kTaken;
  return std::move(s.block);
}

void Prefetcher::Release(std::uint32_t slot) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_held_ -= dataset_->blocks()[slot_blocks_[slot]].raw_size;
    wake = ShouldWakeWorkerLocked();
  }
  if (wake) work_cv_.notify_all();
}

}  // namespace shardmesh::loader::internal
