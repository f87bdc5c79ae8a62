// Suspicion: the timer of one suspected member, after hashicorp/memberlist suspicion.go.
// Starts at `max` (or `min` when no confirmations are expected) and shrinks toward `min` as
// independent peers confirm the suspicion:
//   timeout(n) = max(min, max - log(n + 1) / log(k + 1) * (max - min))
// for n confirmations out of k expected. The accuser counts as already confirmed.
//
// Pure value type: no timers, the owner compares Deadline() with its Clock. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

class Suspicion {
 public:
  Suspicion(std::string from, std::uint32_t k, Duration min, Duration max, TimePoint start);

  // Records a confirmation from `from`. True when it counted (a new peer and fewer than k
  // confirmations so far): the caller then re-gossips the suspicion. False otherwise.
  bool Confirm(const std::string& from);

  // When the suspect is to be declared dead.
  TimePoint Deadline() const { return start_ + timeout_; }
  std::uint32_t confirmations() const { return n_; }
  TimePoint start() const { return start_; }

  // memberlist remainingSuspicionTime() without the elapsed term: the total timeout after n
  // confirmations, rounded down to a millisecond.
  static Duration Timeout(std::uint32_t n, std::uint32_t k, Duration min, Duration max);

 private:
  std::uint32_t k_;
  std::uint32_t n_ = 0;
  Duration min_;
  Duration max_;
  TimePoint start_;
  Duration timeout_;
  std::vector<std::string> confirmed_;  // at most k + 1 names
};

}  // namespace shardmesh::mesh
