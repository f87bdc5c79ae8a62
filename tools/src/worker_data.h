// The data side of `shardmesh worker` (issue 4): the dataset catalog, the local shard store,
// placement, and the mesh loader consuming `epochs` epochs into `ids_out`.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/mesh_placement.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "worker_config.h"

namespace shardmesh::tools {

// Serves blobs from the store once it exists (the catalog may have to be fetched from peers
// through the exchange first); NotFound until then.
class DeferredProvider : public mesh::BlobProvider {
 public:
  void Set(loader::ShardStore* store) { store_.store(store); }
  Result<mesh::Blob> Get(std::string_view name) override {
    loader::ShardStore* s = store_.load();
    if (s == nullptr) return Status::NotFound("this worker has no shard store yet");
    return s->Get(name);
  }

 private:
  std::atomic<loader::ShardStore*> store_{nullptr};
};

// Everything a data worker runs beside its MeshNode. Destroy before the node stops.
struct DataWorker {
  DeferredProvider provider;
  std::unique_ptr<mesh::BlockExchange> exchange;
  std::unique_ptr<loader::ShardStore> store;
  std::unique_ptr<loader::Placement> placement;
  std::unique_ptr<loader::MeshLoader> loader;
  // `loader` for other threads (status requests, metrics scrapes): set once the loader is
  // created, cleared before it is destroyed.
  std::atomic<loader::MeshLoader*> live_loader{nullptr};
};

// What `shardmesh status` shows about this worker's data: disk use, shards held, backlog,
// transfer progress, loader position.
std::map<std::string, std::string> StatusInfo(const DataWorker& worker);

// Creates the exchange and attaches it to `node` (before the node starts).
Status AttachExchange(DataWorker& worker, mesh::MeshNode& node);

// Opens or fetches the catalog, opens the store and starts placement (after the node starts).
Status StartStore(const WorkerConfig& config, DataWorker& worker, mesh::MeshNode& node);

// Consumes config.epochs epochs, appending delivered ids to config.ids_out. Returns the exit
// code: 0 when every epoch finished, 1 on a loader error; stops early (0) when `stop` is set.
int ConsumeEpochs(const WorkerConfig& config, DataWorker& worker, mesh::MeshNode& node,
                  const std::atomic<bool>& stop);

}  // namespace shardmesh::tools
