#include "mesh_block_reader.h"

#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "shardmesh/loader/mesh_placement.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::loader::internal {

MeshBlockReader::MeshBlockReader(BlockReadOptions options, mesh::MeshNode& node,
                                 mesh::BlockExchange& exchange, ShardStore& store,
                                 BlockReadCounters* counters)
    : options_(options), node_(node), exchange_(exchange), store_(store), counters_(counters) {}

std::vector<std::string> MeshBlockReader::Holders(std::uint32_t shard) const {
  const auto ring = mesh::HashRing::Build(node_.LiveMembers(), options_.ring);
  return ShardHolderEndpoints(ring, node_.Members(), store_.catalog().id(), shard,
                              options_.replication, node_.name());
}

std::future<Result<SharedBytes>> MeshBlockReader::Fetch(std::uint32_t block) const {
  const BlockInfo& info = store_.catalog().blocks()[block];
  std::vector<std::string> holders = Holders(info.shard);
  if (holders.empty()) {
    std::promise<Result<SharedBytes>> none;
    none.set_value(Status::Unavailable("no live peer"));
    return none.get_future();
  }
  mesh::FetchOptions fo;
  fo.per_try_timeout = options_.try_timeout;
  return exchange_.Fetch(ShardStore::BlockBlobName(store_.catalog().id(), block),
                         std::move(holders), fo);
}

PendingBlock MeshBlockReader::Start(std::uint32_t block) {
  PendingBlock p;
  p.block = block;
  p.started = std::chrono::steady_clock::now();
  const BlockInfo& info = store_.catalog().blocks()[block];
  if (store_.CanServe(info.shard)) {
    auto local = store_.ReadBlock(block);
    if (local.ok()) {
      counters_->local_bytes += local->size();
      p.ready = std::move(local);
    } else if (local.status().code() == StatusCode::kNotFound) {
      p.remote = true;  // dropped meanwhile: read remotely
      p.fetch = Fetch(block);
    } else {
      p.ready = Heal(block, local.status());
    }
    return p;
  }
  p.remote = true;
  p.fetch = Fetch(block);
  return p;
}

Result<SharedBytes> MeshBlockReader::Heal(std::uint32_t block, const Status& local_error) {
  spdlog::warn("block read: {}; fetching it from another holder to heal the local copy",
               local_error.message());
  auto fetched = store_.has_source() ? store_.ReadSourceBlock(block) : Fetch(block).get();
  if (!fetched.ok()) {
    return Status::Unavailable(fmt::format("{} (and no holder could supply a good copy: {})",
                                           local_error.message(), fetched.status().message()));
  }
  if (Status repaired = store_.RepairBlock(block, fetched->view()); repaired.ok()) {
    ++counters_->healed;
    spdlog::info("healed block {} of {} from a replica", store_.catalog().blocks()[block].index_in_shard,
                 store_.catalog().manifest().shards[store_.catalog().blocks()[block].shard].file);
  } else {
    spdlog::warn("could not rewrite the damaged block: {}", repaired.message());
  }
  (store_.has_source() ? counters_->local_bytes : counters_->remote_bytes) += fetched->size();
  return fetched;
}

Result<SharedBytes> MeshBlockReader::Finish(PendingBlock& p) {
  if (p.ready) return std::move(*p.ready);
  const BlockInfo& info = store_.catalog().blocks()[p.block];
  const std::string& file = store_.catalog().manifest().shards[info.shard].file;
  Status last;
  for (int attempt = 0;; ++attempt) {
    auto got = p.fetch.get();
    if (got.ok()) {
      counters_->remote_bytes += got->size();
      return got;
    }
    last = got.status();
    if (std::chrono::steady_clock::now() - p.started >= options_.deadline) break;
    ++counters_->retries;
    // The membership may have moved on (a holder declared dead, a new owner installed).
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * (attempt + 1), 500)));
    if (store_.CanServe(info.shard)) {
      auto local = store_.ReadBlock(p.block);
      if (local.ok()) {
        counters_->local_bytes += local->size();
        return local;
      }
    }
    p.fetch = Fetch(p.block);
  }
  return Status::Unavailable(fmt::format("{} block {}: no live holder could serve it within {} ms: {}",
                                         file, info.index_in_shard,
                                         std::chrono::duration_cast<std::chrono::milliseconds>(
                                             options_.deadline).count(),
                                         last.message()));
}

}  // namespace shardmesh::loader::internal
