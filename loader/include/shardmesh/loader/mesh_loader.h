// MeshLoader: the mesh-mode data loader (issue 4 item 3; cursors and takeover for issue 5).
// Attached to a running MeshNode, its BlockExchange and this worker's ShardStore, it delivers
// this worker's part of each epoch: the step-by-step interleave of the canonical partitions it
// owns (mesh_epoch.h), reading blocks from the local store when it holds them and from their
// holders through the exchange otherwise.
//
//   SHARDMESH_ASSIGN_OR_RETURN(auto loader, MeshLoader::Create(options, node, exchange, store));
//   SHARDMESH_RETURN_IF_ERROR(loader->StartEpoch(0));
//   while (true) {
//     SHARDMESH_ASSIGN_OR_RETURN(auto sample, loader->Next());
//     if (!sample) break;            // the whole epoch is done, on every worker
//     Train(*sample);
//     loader->Commit();              // e.g. after each optimizer step
//   }
//
// Failures, as the consumer sees them:
//  - a local block that fails its checksum is fetched from another holder, rewritten in the
//    store (healed) and delivered: no error;
//  - a holder that dies or stalls: the fetch moves to the next holder within the per-try
//    timeout; no error while one holder of the shard lives; when none does, after
//    read_deadline, an Unavailable error naming the shard file;
//  - a worker that dies: the next member of each of its partitions' preference lists resumes
//    the partition from its last commit (partition_table.h). No sample of the epoch is lost;
//    one is delivered twice only if it was delivered after the dead worker's last commit.
//    Takeovers need at least half of the epoch's members alive in this worker's view, so a
//    worker cut off alone keeps only its own partitions until the partition heals;
//  - Next() returns nullopt only when every partition of the epoch is done, so no worker waits
//    on a dead one nor starts the next epoch early; epoch_end_timeout bounds that wait.
//
// A worker that joins mid-epoch (StartEpoch while the mesh is in that epoch: it adopts the
// epoch's member set from the others' progress) is a guest: each owner hands it, at one of
// its own commits, the partitions the assignment over the live members plus the guests gives
// it, and the guest resumes them at that commit (partition_table.h, "Handover"). Nothing is
// repeated or lost by a handover; a dead guest's partitions move on like any dead owner's.
//
// Thread-safety: one consumer thread calls StartEpoch/Next/Commit; stats, OwnedPartitions and
// GetCheckpoint may be called from any thread (e.g. a metrics scrape); the loader's
// control thread (progress messages, takeovers) is internal. Destroy the loader before the
// node stops. In a process forked from its creator (whose threads it does not have),
// StartEpoch and Next return FailedPrecondition, Commit does nothing, GetCheckpoint returns
// an empty state and the destructor leaks the loader rather than join absent threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/clock.h"
#include "shardmesh/common/status.h"
#include "shardmesh/loader/mesh_epoch.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/loader/streaming_loader.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"

namespace shardmesh::loader {

// Bound of MeshLoaderOptions::windows_ahead: each window ahead holds decoded blocks of every
// owned partition.
inline constexpr std::uint32_t kMaxWindowsAhead = 64;

struct MeshLoaderOptions {
  MeshStrategy strategy = MeshStrategy::kConsistentHash;
  // Seed of the epoch order; every worker of a job must use the same (as for the next three).
  std::uint64_t seed = 0;
  // Canonical partitions of an epoch (P). More partitions spread load and failover finer;
  // each owned partition holds one shuffle window of decoded blocks.
  std::uint32_t partitions = 64;
  std::uint32_t shuffle_window_blocks = 1;
  // Must match the placement's replication and ring.
  std::uint32_t replication = 2;
  mesh::RingOptions ring;
  // Bounded-load slack of the partition assignment.
  double load_eps = 0.25;
  // An epoch starts when at least `min_members` members are live, every live member's view
  // agrees, and the view has not changed for `settle`. Longer settles ride out churn at
  // start-up; a view that differs between workers at the start costs duplicates. StartEpoch
  // then waits, for `settle` at most, until every other live member of the epoch has started
  // it too (its progress has arrived), so that the workers read from the same moment.
  std::uint32_t min_members = 1;
  Duration settle = std::chrono::milliseconds(1000);
  // How long StartEpoch waits for those conditions (zero: for ever).
  Duration start_timeout = std::chrono::seconds(60);
  // When set and it becomes true (a stop signal), StartEpoch's waits end at once: Aborted
  // while the membership has not settled yet. Must outlive the loader.
  const std::atomic<bool>* cancel = nullptr;
  // How often every worker re-sends its whole partition table (repairs lost commits).
  Duration progress_interval = std::chrono::milliseconds(250);
  // Takeovers need at least half of the epoch's members alive, counting only those whose
  // progress arrived within this window (a few progress intervals).
  Duration quorum_window = std::chrono::milliseconds(1000);
  // After a takeover, how long the new owner waits for late commits of the dead owner before
  // it resumes. About two progress intervals.
  Duration takeover_grace = std::chrono::milliseconds(600);
  // A control loop that did not run for this long means the process was frozen (SIGSTOP,
  // swapping): delivery then pauses for takeover_grace so that the partitions peers took over
  // meanwhile are dropped before more of them are delivered. Above the loop's 50 ms tick and
  // below the mesh's failure-detection time.
  Duration stall_threshold = std::chrono::milliseconds(500);
  // Commit every this many delivered samples (0: only explicit Commit calls).
  std::uint64_t commit_every = 0;
  // Commits are sent to the peers at most once per this gap (the latest cursors, so nothing is
  // lost by coalescing): a trainer committing thousands of times a second costs 50 broadcasts
  // a second, and a sample is replicated at most this much later than it is committed. A
  // commit after a quiet spell longer than the gap leaves at once. Each broadcast wakes four
  // threads across the two processes; at 5 ms (the default until 2026-12-05) that cost a
  // saturated two-core reader 2-4 % of its throughput.
  Duration commit_broadcast_gap = std::chrono::milliseconds(20);
  // Per-holder timeout of a remote block read, and the whole read's bound across retries
  // (holders re-listed from the current membership at each retry).
  Duration fetch_try_timeout = std::chrono::milliseconds(1000);
  Duration read_deadline = std::chrono::seconds(10);
  // Windows read ahead of the consumer per owned partition (at most kMaxWindowsAhead).
  std::uint32_t windows_ahead = 1;
  // How long Next() waits for other workers to finish the epoch (zero: for ever); then
  // DeadlineExceeded naming the unfinished partitions and their owners.
  Duration epoch_end_timeout = std::chrono::minutes(10);
  // Cursors restored from a checkpoint (whole-job restart), merged when that epoch starts.
  // The restored partitions wait takeover_grace before resuming, so the (possibly newer)
  // cursors the other restarted workers restored reach this one first. Create() refuses one
  // whose plan_digest is not this loader's (FailedPrecondition).
  std::optional<checkpoint::StreamState> restore;
  // Directory of this worker's stream checkpoints (checkpoint/stream_checkpoint.h): the whole
  // partition table as this worker knows it, written after commits by the control thread, at
  // most once per persist_interval, last keep_checkpoints kept. Empty: not persisted.
  std::string checkpoint_dir;
  // Each save is two fsyncs (file and directory), about 0.5 ms of CPU on a VM: 200 ms keeps
  // that near 0.3 % of a core; a whole-job restart repeats at most this much of the stream.
  Duration persist_interval = std::chrono::milliseconds(200);
  std::uint32_t keep_checkpoints = 3;
};

struct MeshLoaderStats {
  std::uint64_t samples_delivered = 0;
  std::uint64_t local_samples = 0;   // from blocks read from this worker's store or source
  std::uint64_t remote_samples = 0;  // from blocks fetched from peers
  std::uint64_t local_bytes = 0;     // compressed block bytes
  std::uint64_t remote_bytes = 0;
  std::uint64_t blocks_healed = 0;     // local blocks that failed their checksum and were rewritten
  std::uint64_t read_retries = 0;      // remote reads retried with a fresh holder list
  std::uint64_t partitions_owned = 0;  // owned now and not finished
  std::uint64_t partitions_taken_over = 0;   // over the loader's life
  std::uint64_t partitions_lost = 0;         // given up to a higher term (this worker was
                                             // declared dead and came back)
  std::uint64_t partitions_handed_over = 0;  // given to members that joined mid-epoch
  std::uint64_t partitions_received = 0;     // handed to this worker (it joined mid-epoch)
  std::uint64_t commits = 0;
  std::uint64_t checkpoints_persisted = 0;
  std::uint64_t checkpoint_failures = 0;
  std::uint64_t progress_conflicts = 0;  // messages of this epoch from another member set
  // Epochs this worker began with a member set of its own and then re-joined as a guest of
  // the set the mesh had started them with (it heard no progress within settle).
  std::uint64_t epochs_rejoined = 0;
  std::uint64_t epoch = 0;
  std::uint64_t epoch_remaining = 0;  // samples of the epoch not yet committed anywhere
};

// What a stream checkpoint's plan_digest must equal for `options` over `catalog`: the dataset,
// seed, partitions, shuffle window and strategy (not the members: partitions are canonical).
std::uint64_t MeshPlanDigest(const DatasetCatalog& catalog, const MeshLoaderOptions& options);

// The checks MeshLoader::Create makes of `options` alone (InvalidArgument naming the field),
// for a caller that wants them before it joins a mesh (MeshJob).
Status ValidateMeshLoaderOptions(const MeshLoaderOptions& options);

class MeshLoader {
 public:
  // Registers the progress handler on `node` and starts the control thread. `node`,
  // `exchange` and `store` must outlive the loader. InvalidArgument naming the option;
  // IOError naming checkpoint_dir when it cannot be created.
  static Result<std::unique_ptr<MeshLoader>> Create(MeshLoaderOptions options, mesh::MeshNode& node,
                                                    mesh::BlockExchange& exchange,
                                                    ShardStore& store);
  ~MeshLoader();
  MeshLoader(const MeshLoader&) = delete;
  MeshLoader& operator=(const MeshLoader&) = delete;

  // Waits for the membership to settle (options above), fixes the epoch's member set and
  // partition owners, and starts reading. DeadlineExceeded after start_timeout. While this
  // worker still reads partitions of the running epoch, StartEpoch of that epoch continues it
  // (returns at once) and of another one is FailedPrecondition: leaving an epoch early would
  // lose its rest and keep the peers waiting for its end.
  Status StartEpoch(std::uint64_t epoch);
  // The next sample, or nullopt once every partition of the epoch is done.
  Result<std::optional<Sample>> Next();
  // Records what was delivered so far as committed and replicates it to every member in the
  // background (returns at once: about 0.05 us and no lock, unless a partition finished or a
  // handover is due; it wakes the control thread only when that thread is idle past
  // commit_broadcast_gap). Next() also commits by
  // itself when this worker has run out of partitions (the consumer asked for more, so it is
  // done with what it got), and every commit_every samples when that is set. A commit that
  // completes a partition is sent at once, without waiting for the gap. Partitions planned
  // for a member that joined mid-epoch are handed over at a commit (and sent at once too).
  void Commit();
  // Called on the consumer thread right before every commit, explicit or not: flush whatever
  // must be durable before the position is published (e.g. a file of delivered ids).
  void SetBeforeCommit(std::function<void()> hook);
  // The stream state of the epoch as this worker knows it (every partition's cursor).
  checkpoint::StreamState GetCheckpoint() const;
  // The plan digest (dataset, seed, partitions, window, strategy) checkpoints carry; a
  // restore from another plan is refused.
  std::uint64_t plan_digest() const;

  MeshLoaderStats stats() const;
  // Partitions this worker owns now, unfinished.
  std::vector<std::uint32_t> OwnedPartitions() const;

 private:
  struct Impl;
  explicit MeshLoader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::loader
