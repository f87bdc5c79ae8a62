// The Prometheus metrics of `shardmesh worker` (issue 4 item 7), read at scrape time from the
// worker's parts: samples and bytes delivered (local/remote), the fetch latency histogram,
// members by state, partitions owned, the replication backlog, disk use, healing, takeovers.
#pragma once

#include "shardmesh/common/metrics.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/loader/mesh_job.h"

namespace shardmesh::tools {

// Registers every worker metric on `registry`: membership from `node`, data from `job` (null
// for a membership-only worker: the data metrics then read 0). Both must outlive the
// registry's last scrape (stop the metrics server first).
Status RegisterWorkerMetrics(MetricsRegistry& registry, const mesh::MeshNode& node,
                             const loader::MeshJob* job);

}  // namespace shardmesh::tools
