// The Prometheus metrics of `shardmesh worker` (issue 4 item 7), read at scrape time from the
// worker's parts: samples and bytes delivered (local/remote), the fetch latency histogram,
// members by state, partitions owned, the replication backlog, disk use, healing, takeovers.
#pragma once

#include "shardmesh/common/metrics.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/mesh_node.h"
#include "worker_data.h"

namespace shardmesh::tools {

// Registers every worker metric on `registry`. `worker` and `node` must outlive the registry's
// last scrape (stop the metrics server first); parts of `worker` created later (the loader)
// are picked up when they appear.
Status RegisterWorkerMetrics(MetricsRegistry& registry, const DataWorker& worker,
                             const mesh::MeshNode& node);

}  // namespace shardmesh::tools
