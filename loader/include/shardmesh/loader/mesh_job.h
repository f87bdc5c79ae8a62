// MeshJob: one mesh-mode data worker in a process: its MeshNode, block exchange, shard store,
// placement and mesh loader, started in the right order and stopped in the reverse one. What
// `shardmesh worker` runs, and what a training program embeds:
//
//   MeshJobOptions options;
//   options.data_dir = "/data/w1";
//   options.dataset = "/shared/imagenet-smd";       // or leave empty: fetched from peers
//   options.loader.commit_every = 0;                 // commit after each optimizer step instead
//   SHARDMESH_ASSIGN_OR_RETURN(auto job, MeshJob::Start(options, mesh_options, seeds));
//   for (std::uint64_t e = job->first_epoch(); e < epochs; ++e) {
//     SHARDMESH_RETURN_IF_ERROR(job->loader().StartEpoch(e));
//     while (true) { ...Next()... Train(); job->loader().Commit(); }
//   }
//   SHARDMESH_RETURN_IF_ERROR(job->Leave(std::chrono::milliseconds(200)));
//
// Start restores the loader from the newest valid stream checkpoint in the checkpoint
// directory (default <data_dir>/checkpoints) when its plan matches, so a restarted worker
// resumes its epoch; first_epoch() says which.
//
// Thread-safety: Start/Leave/destruction from one thread; accessors from any thread (the parts
// have their own rules). Destroyed in a process forked from its creator, a job leaks its parts
// (their threads exist only in the parent).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/mesh_placement.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/mesh_options.h"
#include "shardmesh/mesh/transport.h"

namespace shardmesh::loader {

struct MeshJobOptions {
  // This worker's local shard store (required).
  std::string data_dir;
  // A source dataset directory this worker can read (optional; one worker, or a shared path).
  // Without it the catalog comes from a peer that has it (or from data_dir, after a restart).
  std::string dataset;
  // Re-read every copy found in data_dir at start and drop those whose file checksum differs
  // (ShardStoreOptions::verify_at_open). Off, a large store starts at once; a damaged block is
  // still caught when read, and healed from another copy.
  bool verify_store_at_start = true;
  // How long Start waits for a peer to serve the catalog.
  Duration catalog_timeout = std::chrono::seconds(60);
  mesh::ExchangeOptions exchange;
  // Replication and ring; loader.replication and loader.ring are set from them.
  PlacementOptions placement;
  // Loader options; checkpoint_dir defaults to <data_dir>/checkpoints, `restore` is filled in
  // by Start from it.
  MeshLoaderOptions loader;
  // Membership events, after the job's own handling (placement wake-up). Loop thread.
  std::function<void(const mesh::MembershipEvent&)> on_event;
  // When set and it becomes true (a stop signal), the waits end early with Aborted: Start's
  // catalog fetch (the node then leaves gracefully), WaitForPlacement and the loader's
  // StartEpoch (loader.cancel is set from it). Must outlive the job.
  const std::atomic<bool>* cancel = nullptr;
};

class MeshJob {
 public:
  // Creates the node over `transport` (a ZmqTransport on mesh_options.bind when null), joins
  // through `seeds`, opens or fetches the catalog, opens the store, starts placement and
  // creates the loader. Errors name the step (catalog, store, checkpoint) and its cause.
  static Result<std::unique_ptr<MeshJob>> Start(
      MeshJobOptions options, mesh::MeshOptions mesh_options, std::vector<std::string> seeds,
      std::unique_ptr<mesh::Transport> transport = nullptr);
  ~MeshJob();  // stops everything without a leave announcement (as a crash would look)
  MeshJob(const MeshJob&) = delete;
  MeshJob& operator=(const MeshJob&) = delete;

  // Blocks until this worker holds every shard it owns on the current ring and at least
  // `min_members` members are live, or `timeout` passes (then DeadlineExceeded with the
  // number still missing; reading works anyway, from peers), or options.cancel is set
  // (Aborted).
  Status WaitForPlacement(std::size_t min_members, Duration timeout);
  // Stops the loader and placement (and clears the node's event and status handlers), then
  // leaves the mesh gracefully (drain: see MeshNode). Only node() may be used afterwards.
  Status Leave(Duration drain);

  mesh::MeshNode& node() { return *node_; }
  const mesh::MeshNode& node() const { return *node_; }
  mesh::BlockExchange& exchange() { return *exchange_; }
  const mesh::BlockExchange& exchange() const { return *exchange_; }
  ShardStore& store() { return *store_; }
  const ShardStore& store() const { return *store_; }
  Placement& placement() { return *placement_; }
  const Placement& placement() const { return *placement_; }
  MeshLoader& loader() { return *loader_; }
  const MeshLoader& loader() const { return *loader_; }
  // The epoch to start with: the restored checkpoint's, else 0.
  std::uint64_t first_epoch() const { return first_epoch_; }
  // Where the loader's restore came from ("" when it started fresh).
  const std::string& restored_from() const { return restored_from_; }

 private:
  MeshJob() = default;
  void StopData();
  class Provider;
  std::unique_ptr<Provider> provider_;
  std::unique_ptr<mesh::MeshNode> node_;
  std::unique_ptr<mesh::BlockExchange> exchange_;
  std::unique_ptr<ShardStore> store_;
  std::unique_ptr<Placement> placement_;
  std::unique_ptr<MeshLoader> loader_;
  // The process's fork count at creation: in a forked child none of the threads exist, and
  // the destructor leaks the parts instead of stopping them (it would wait for ever).
  std::uint64_t fork_generation_ = 0;
  std::uint64_t first_epoch_ = 0;
  std::string restored_from_;
  const std::atomic<bool>* cancel_ = nullptr;
};

}  // namespace shardmesh::loader
