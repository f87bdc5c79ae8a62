// MeshBlockReader: reads one block's compressed bytes for the mesh loader, wherever it is:
// the local store (healing a block that fails its checksum from another holder), else the
// shard's holders through the block exchange, re-listing holders from the current membership
// and retrying until a deadline. Remote reads are started early (Start) and collected later
// (Finish), so they overlap with decoding.
//
// Thread-safety: Start/Finish are called from the consumer thread only; counters are atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <string>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::loader::internal {

struct BlockReadCounters {
  std::atomic<std::uint64_t> local_bytes{0};
  std::atomic<std::uint64_t> remote_bytes{0};
  std::atomic<std::uint64_t> healed{0};
  std::atomic<std::uint64_t> retries{0};
};

struct BlockReadOptions {
  std::uint32_t replication = 2;
  mesh::RingOptions ring;
  Duration try_timeout = std::chrono::milliseconds(1000);
  Duration deadline = std::chrono::seconds(10);
};

// A read in progress: either finished (local) or a fetch in flight.
struct PendingBlock {
  std::uint32_t block = 0;
  bool remote = false;
  std::optional<Result<SharedBytes>> ready;
  std::future<Result<SharedBytes>> fetch;
  std::chrono::steady_clock::time_point started;
};

class MeshBlockReader {
 public:
  MeshBlockReader(BlockReadOptions options, mesh::MeshNode& node, mesh::BlockExchange& exchange,
                  ShardStore& store, BlockReadCounters* counters);

  // Starts reading `block`: local reads complete here, remote ones are sent.
  PendingBlock Start(std::uint32_t block);
  // Waits for `pending` and returns verified compressed bytes, or the error naming the shard.
  Result<SharedBytes> Finish(PendingBlock& pending);

 private:
  std::vector<std::string> Holders(std::uint32_t shard) const;
  std::future<Result<SharedBytes>> Fetch(std::uint32_t block) const;
  Result<SharedBytes> Heal(std::uint32_t block, const Status& local_error);

  const BlockReadOptions options_;
  mesh::MeshNode& node_;
  mesh::BlockExchange& exchange_;
  ShardStore& store_;
  BlockReadCounters* const counters_;
};

}  // namespace shardmesh::loader::internal
