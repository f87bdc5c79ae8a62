// Mesh nodes inside the calling process, for tests and benchmark drivers that run several
// loaders at once without child processes.
#pragma once

#include <memory>
#include <string>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"

namespace shardmesh::testing {

// A mesh node with its shard store and block exchange. Members are destroyed exchange first,
// node last; Stop() the node before dropping it.
struct InProcessNode {
  std::unique_ptr<mesh::MeshNode> node;
  std::unique_ptr<loader::ShardStore> store;
  std::unique_ptr<mesh::BlockExchange> exchange;
};

// Node `name` with the Local profile on a ZeroMQ inbox at 127.0.0.1 (a port the system picks),
// its store in `dir`/`name` with `source` as the source dataset, the exchange attached. Not
// started. The first error, naming the step.
Result<InProcessNode> MakeInProcessNode(const std::string& name, const std::string& dir,
                                        std::shared_ptr<const loader::DatasetCatalog> catalog,
                                        const std::string& source);

}  // namespace shardmesh::testing
