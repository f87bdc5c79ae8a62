// Fault injection for `shardmesh worker` (tests only): wraps the transport in a FaultTransport
// when any fault_* key is set, and runs the timed partition (fault_partition_after/for).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "shardmesh/mesh/fault_transport.h"
#include "shardmesh/mesh/mesh_node.h"
#include "worker_config.h"

namespace shardmesh::tools {

// `transport` itself when no fault key is set; else a FaultTransport around it, returned in
// `*fault` too (owned by whoever owns the result).
std::unique_ptr<mesh::Transport> WithFaults(const WorkerConfig& config,
                                            std::unique_ptr<mesh::Transport> transport,
                                            mesh::FaultTransport** fault);

// Cuts off fault_partition_from after fault_partition_after and heals after
// fault_partition_for; both switches run on the node's loop thread, which owns the transport.
// The destructor cancels what has not happened yet.
class PartitionTimer {
 public:
  PartitionTimer(const WorkerConfig& config, mesh::MeshNode& node, mesh::FaultTransport* fault);
  ~PartitionTimer();
  PartitionTimer(const PartitionTimer&) = delete;
  PartitionTimer& operator=(const PartitionTimer&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancel_ = false;
  std::thread thread_;
};

}  // namespace shardmesh::tools
