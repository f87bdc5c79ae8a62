#include "rate_limited_log.h"

#include <spdlog/spdlog.h>

namespace shardmesh::mesh {

bool RateLimitedLog::Warn(std::string_view kind, std::string_view message) {
  KindState& state = kinds_[std::string(kind)];
  const TimePoint now = clock_.Now();
  if (state.logged_once && now - state.last_logged < interval_) {
    ++state.suppressed;
    return false;
  }
  if (state.suppressed > 0) {
    spdlog::warn("{} ({} similar warnings suppressed)", message, state.suppressed);
  } else {
    spdlog::warn("{}", message);
  }
  state.logged_once = true;
  state.last_logged = now;
  state.suppressed = 0;
  return true;
}

std::uint64_t RateLimitedLog::suppressed(std::string_view kind) const {
  const auto it = kinds_.find(std::string(kind));
  return it == kinds_.end() ? 0 : it->second.suppressed;
}

}  // namespace shardmesh::mesh
