// The data side of `shardmesh worker` (issue 4): a MeshJob built from the worker's config, and
// the loop consuming `epochs` epochs into `ids_out`.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "shardmesh/loader/mesh_job.h"
#include "shardmesh/mesh/transport.h"
#include "worker_config.h"

namespace shardmesh::tools {

// Starts the job (node, exchange, store, placement, loader) over `transport`. Once `stop` is
// set, its waits (catalog, placement, epoch start) end early with Aborted.
Result<std::unique_ptr<loader::MeshJob>> StartJob(
    const WorkerConfig& config, std::unique_ptr<mesh::Transport> transport,
    std::function<void(const mesh::MembershipEvent&)> on_event,
    const std::atomic<bool>* stop = nullptr);

// What `shardmesh status` shows about this worker's data: disk use, shards held, backlog,
// transfer progress, loader position.
std::map<std::string, std::string> StatusInfo(const loader::MeshJob& job);

// Consumes the epochs from job.first_epoch() to config.epochs, appending delivered ids to
// config.ids_out. Returns the exit code: 0 when every epoch finished (or `stop` was set),
// 1 on a loader error.
int ConsumeEpochs(const WorkerConfig& config, loader::MeshJob& job, const std::atomic<bool>& stop);

}  // namespace shardmesh::tools
