#include "shardmesh/mesh/mesh_options.h"

#include <algorithm>
#include <cmath>

namespace shardmesh::mesh {

MeshOptions MeshOptions::Lan() { return MeshOptions(); }

MeshOptions MeshOptions::Local() {
  MeshOptions o;
  o.probe_interval = std::chrono::milliseconds(200);
  o.probe_timeout = std::chrono::milliseconds(100);
  o.suspicion_mult = 4;
  o.suspicion_max_timeout_mult = 2;
  o.retransmit_mult = 4;
  o.gossip_interval = std::chrono::milliseconds(50);
  o.push_pull_interval = std::chrono::milliseconds(5000);
  o.seed_retry_interval = std::chrono::milliseconds(1000);
  o.dead_reclaim_time = std::chrono::milliseconds(60000);
  return o;
}

Status MeshOptions::Validate() const {
  auto bad = [](const char* field, const std::string& why) {
    return Status::InvalidArgument("mesh option '" + std::string(field) + "': " + why);
  };
  if (name.empty()) return bad("name", "empty");
  if (probe_interval.count() <= 0) return bad("probe_interval", "must be positive");
  if (probe_timeout.count() <= 0 || probe_timeout >= probe_interval) {
    return bad("probe_timeout", "must be positive and below probe_interval");
  }
  if (suspicion_mult == 0) return bad("suspicion_mult", "must be at least 1");
  if (suspicion_max_timeout_mult == 0) {
    return bad("suspicion_max_timeout_mult", "must be at least 1");
  }
  if (retransmit_mult == 0) return bad("retransmit_mult", "must be at least 1");
  if (awareness_max_multiplier == 0) return bad("awareness_max_multiplier", "must be at least 1");
  if (seed_retry_interval.count() <= 0) return bad("seed_retry_interval", "must be positive");
  if (max_piggyback_bytes < 64) return bad("max_piggyback_bytes", "must be at least 64");
  if (vnodes == 0) return bad("vnodes", "must be at least 1");
  if (partitions == 0) return bad("partitions", "must be at least 1");
  if (replication == 0) return bad("replication", "must be at least 1");
  return Status::OK();
}

Duration SuspicionMinTimeout(std::uint32_t suspicion_mult, std::size_t n, Duration interval) {
  const double node_scale = std::max(1.0, std::log10(std::max(1.0, static_cast<double>(n))));
  // memberlist computes in milliseconds of scale: mult * (node_scale * 1000) * interval / 1000.
  const auto scale_milli = static_cast<std::int64_t>(node_scale * 1000.0);
  return Duration(static_cast<std::int64_t>(suspicion_mult) * scale_milli * interval.count() /
                  1000);
}

std::uint32_t RetransmitLimit(std::uint32_t retransmit_mult, std::size_t n) {
  const double node_scale = std::ceil(std::log10(static_cast<double>(n) + 1.0));
  return retransmit_mult * static_cast<std::uint32_t>(node_scale);
}

Duration DetectionBound(const MeshOptions& options, std::size_t n) {
  const Duration period = options.probe_interval;
  const std::size_t probe_window = std::min<std::size_t>(n > 0 ? n - 1 : 0, 7) + 1;
  const auto log2n = static_cast<std::size_t>(std::ceil(std::log2(std::max<std::size_t>(n, 2))));
  const Duration max_timeout =
      SuspicionMinTimeout(options.suspicion_mult, n, period) * options.suspicion_max_timeout_mult;
  return period * static_cast<std::int64_t>(probe_window + log2n + 2) + max_timeout;
}

}  // namespace shardmesh::mesh
