// RateLimitedLog: warnings about peer misbehaviour (malformed frames, bad headers) at most once
// per interval per kind, so a hostile or broken peer cannot flood the log. The next warning of a
// kind after a quiet spell reports how many were suppressed.
//
// Thread-safety: not thread-safe; one per transport, used from its thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "shardmesh/common/clock.h"

namespace shardmesh::mesh {

class RateLimitedLog {
 public:
  RateLimitedLog(const Clock& clock, Duration interval) : clock_(clock), interval_(interval) {}

  // Logs `message` as a warning unless one of the same `kind` was logged less than `interval`
  // ago. Returns true if it was logged.
  bool Warn(std::string_view kind, std::string_view message);

  // Warnings of `kind` suppressed since the last one logged.
  std::uint64_t suppressed(std::string_view kind) const;

 private:
  struct KindState {
    TimePoint last_logged;
    bool logged_once = false;
    std::uint64_t suppressed = 0;
  };

  const Clock& clock_;
  Duration interval_;
  std::unordered_map<std::string, KindState> kinds_;
};

}  // namespace shardmesh::mesh
