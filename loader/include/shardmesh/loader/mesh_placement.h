// Placement: keeps every shard of a dataset on its owners, owners(shard, R) on the hash ring
// of the live members (issue 4, item 2). Each worker runs one; it only ever acts for itself:
// every `interval`, and at once after a membership change, it lists the shards it owns and
// lacks and pulls them (from its source directory when it has one, else in chunks through the
// block exchange from peers that hold a verified copy), verifies the whole-file checksum, and
// only then installs and serves the copy. A pull that fails (holder died, checksum) is retried
// at the next round from the other holders. Copies of shards it no longer owns are kept (they
// still serve reads) unless drop_unowned is set.
//
// Thread-safety: Start/stop from one thread; status() and Holders() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::loader {

struct PlacementOptions {
  // Copies of each shard (R). More survives more simultaneous failures and makes more reads
  // local, at R times the disk.
  std::uint32_t replication = 2;
  // Ring parameters; every worker of a job must use the same.
  mesh::RingOptions ring;
  // How often the owned-and-missing list is recomputed when nothing else wakes the loop.
  Duration interval = std::chrono::milliseconds(250);
  // Chunk fetches in flight during a pull (each kChunkBytes).
  std::uint32_t parallel_chunks = 8;
  // Remove local copies of shards this worker no longer owns.
  bool drop_unowned = false;
  // Install or drop nothing until the live member set has been unchanged this long: a worker
  // that starts beside others first sees only itself (owning every shard) and would copy the
  // whole dataset before the others' joins arrive. 0: act on every view at once. A view
  // that never settles (churn) is acted on anyway after 10 x settle (at least 10 s).
  Duration settle = Duration::zero();
};

struct PlacementStatus {
  std::uint32_t shards_total = 0;
  std::uint32_t shards_owned = 0;   // shards whose owners include this worker
  std::uint32_t shards_held = 0;    // verified local copies
  std::uint32_t owned_missing = 0;  // the replication backlog: owned but not yet held
  std::uint64_t bytes_stored = 0;
  std::uint64_t bytes_pulled = 0;   // from peers, verified
  std::uint64_t shards_pulled = 0;  // installed from peers or the source
  std::uint64_t pull_failures = 0;
};

// Ring key of a shard of the dataset `catalog_id` (shared by placement and the loader).
std::uint64_t ShardRingKey(std::string_view catalog_id, std::uint32_t shard);

class Placement {
 public:
  // Starts the placement thread. `node`, `exchange` and `store` must outlive the Placement.
  static Result<std::unique_ptr<Placement>> Start(PlacementOptions options, mesh::MeshNode& node,
                                                  mesh::BlockExchange& exchange, ShardStore& store);
  ~Placement();  // stops and joins (an in-flight pull is abandoned; its .part is removed)
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;

  // Recompute now (call on membership changes).
  void Wake();
  PlacementStatus status() const;
  // Shards this worker owns on the ring of the live members right now and does not hold yet.
  std::uint32_t MissingOwned() const;

 private:
  struct Impl;
  explicit Placement(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The endpoints to ask for `shard`, best first: its owners on `ring` (excluding `self`), then
// every other live member (a holder of an extra copy or of the source). `members` gives the
// endpoints of the names on the ring.
std::vector<std::string> ShardHolderEndpoints(const mesh::HashRing& ring,
                                              const std::vector<mesh::MemberInfo>& members,
                                              std::string_view catalog_id, std::uint32_t shard,
                                              std::uint32_t replication, std::string_view self);

// Asks every live peer of `node` for the dataset catalog until one answers with a valid one,
// or `timeout` passes (Unavailable naming the peers tried), or `cancel` (when given) becomes
// true (Aborted).
Result<std::shared_ptr<const DatasetCatalog>> FetchCatalogFromPeers(
    mesh::MeshNode& node, mesh::BlockExchange& exchange, Duration timeout,
    const std::atomic<bool>* cancel = nullptr);

}  // namespace shardmesh::loader
