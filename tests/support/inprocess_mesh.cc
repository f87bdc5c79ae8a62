#include "inprocess_mesh.h"

#include <utility>

#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::testing {

Result<InProcessNode> MakeInProcessNode(const std::string& name, const std::string& dir,
                                        std::shared_ptr<const loader::DatasetCatalog> catalog,
                                        const std::string& source) {
  InProcessNode n;
  loader::ShardStoreOptions store_options;
  store_options.data_dir = dir + "/" + name;
  store_options.source_dir = source;
  auto store = loader::ShardStore::Open(store_options, std::move(catalog));
  if (!store.ok()) return store.status().WithContext("store of " + name);
  n.store = std::move(*store);
  auto transport = mesh::ZmqTransport::Create({});
  if (!transport.ok()) return transport.status().WithContext("transport of " + name);
  mesh::MeshOptions mesh_options = mesh::MeshOptions::Local();
  mesh_options.name = name;
  auto node = mesh::MeshNode::Create(mesh_options, std::move(*transport));
  if (!node.ok()) return node.status().WithContext("node " + name);
  n.node = std::move(*node);
  auto exchange = mesh::BlockExchange::Create({}, n.store.get());
  if (!exchange.ok()) return exchange.status().WithContext("exchange of " + name);
  n.exchange = std::move(*exchange);
  SHARDMESH_RETURN_IF_ERROR(n.exchange->Attach(*n.node).WithContext("attach of " + name));
  return n;
}

}  // namespace shardmesh::testing
