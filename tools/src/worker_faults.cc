#include "worker_faults.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "shardmesh/common/hash.h"

namespace shardmesh::tools {

std::unique_ptr<mesh::Transport> WithFaults(const WorkerConfig& c,
                                            std::unique_ptr<mesh::Transport> transport,
                                            mesh::FaultTransport** fault) {
  *fault = nullptr;
  if (c.fault_drop_rate <= 0 && c.fault_delay.count() == 0 && c.fault_partition_from.empty()) {
    return transport;
  }
  mesh::FaultOptions f;
  f.drop_rate = c.fault_drop_rate;
  f.delay = c.fault_delay;
  // A partition that starts later is switched on by PartitionTimer.
  if (c.fault_partition_after.count() == 0) f.partition_from = c.fault_partition_from;
  std::string partition = fmt::format("{}", fmt::join(c.fault_partition_from, ","));
  if (!c.fault_partition_from.empty() && c.fault_partition_after.count() > 0) {
    partition += fmt::format(" from {} ms", c.fault_partition_after.count());
  }
  if (!c.fault_partition_from.empty() && c.fault_partition_for.count() > 0) {
    partition += fmt::format(" for {} ms", c.fault_partition_for.count());
  }
  spdlog::warn("fault injection on: drop_rate={} delay={}ms partition_from={}", f.drop_rate,
               c.fault_delay.count(), partition.empty() ? "none" : partition);
  auto wrapped = std::make_unique<mesh::FaultTransport>(std::move(transport), f,
                                                        SystemClock::Instance(), Hash64(c.name));
  *fault = wrapped.get();
  return wrapped;
}

PartitionTimer::PartitionTimer(const WorkerConfig& c, mesh::MeshNode& node,
                               mesh::FaultTransport* fault) {
  const bool timed = c.fault_partition_after.count() > 0 || c.fault_partition_for.count() > 0;
  if (fault == nullptr || !timed || c.fault_partition_from.empty()) return;
  thread_ = std::thread([this, &node, fault, peers = c.fault_partition_from,
                         after = c.fault_partition_after, span = c.fault_partition_for] {
    std::unique_lock lock(mu_);
    auto switch_to = [&](std::vector<std::string> to, const char* what) {
      node.Post([fault, to, what](mesh::Transport&) {
        fault->SetPartitionFrom(to);
        spdlog::warn("fault injection: partition {}", what);
      });
    };
    if (after.count() > 0) {
      if (cv_.wait_for(lock, after, [&] { return cancel_; })) return;
      switch_to(peers, "started");
    }
    if (span.count() == 0) return;
    if (cv_.wait_for(lock, span, [&] { return cancel_; })) return;
    switch_to({}, "healed");
  });
}

PartitionTimer::~PartitionTimer() {
  {
    std::lock_guard lock(mu_);
    cancel_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace shardmesh::tools
