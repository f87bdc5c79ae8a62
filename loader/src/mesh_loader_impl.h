// MeshLoader::Impl: the state of a mesh-mode loader and its threads (mesh_loader.h), shared by
// the files that implement it:
//   mesh_loader.cc           the public API and the start of an epoch;
//   mesh_loader_control.cc   progress messages and the control thread (broadcasts, takeovers,
//                            persistence);
//   mesh_loader_consumer.cc  the consumer's side: Next(), Commit(), handovers, block windows.
// Which thread touches what, and under which lock, is said member by member below.
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mesh_block_reader.h"
#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/fork_generation.h"
#include "shardmesh/loader/mesh_epoch.h"
#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/partition_table.h"
#include "shardmesh/loader/progress_message.h"
#include "stream_checkpoint_writer.h"

namespace shardmesh::loader {
namespace internal {

// Consumer-side state of one partition this worker delivers.
struct ActivePartition {
  std::uint32_t partition = 0;
  std::uint64_t delivered = 0;            // next position in the partition's own order
  std::vector<std::uint64_t> window_end;  // cumulative sample count at the end of each window
  std::uint32_t window = UINT32_MAX;      // decoded window
  std::map<std::uint32_t, std::shared_ptr<const DecodedBlock>> blocks;  // of `window`
  std::map<std::uint32_t, std::vector<PendingBlock>> ahead;             // window -> reads
  std::set<std::uint32_t> remote_blocks;  // blocks of `window` that came from peers
  std::string handover_to;  // a member that joined mid-epoch takes it at the next commit
};

}  // namespace internal

struct MeshLoader::Impl {
  // The process's fork count at creation: a forked child has none of the threads.
  const std::uint64_t fork_generation = ForkGeneration();
  bool Forked() const { return fork_generation != ForkGeneration(); }
  using SteadyClock = std::chrono::steady_clock;
  using ActivePartition = internal::ActivePartition;

  static std::int64_t ToNanos(SteadyClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  // CLOCK_MONOTONIC (steady_clock's clock on Linux) at jiffy resolution: a few ns per read, as
  // it only reads what the kernel last stored, where the precise clock costs ~10x that here.
  static std::int64_t CoarseNowNanos() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }

  MeshLoaderOptions options;
  mesh::MeshNode* node = nullptr;
  mesh::BlockExchange* exchange = nullptr;
  ShardStore* store = nullptr;
  std::shared_ptr<const DatasetCatalog> catalog;
  std::uint64_t plan_digest = 0;
  internal::BlockReadCounters read_counters;
  std::unique_ptr<internal::MeshBlockReader> reader;

  // ---- Shared between the consumer, the control thread and the message handler (mu). ----
  mutable std::mutex mu;
  std::condition_variable consumer_cv;  // table changed (done, takeover)
  std::condition_variable control_cv;   // commit or stop
  bool stop = false;
  bool started = false;  // an epoch is running
  bool dirty = false;    // entries to send now
  // Entries that end something (a partition finished, this worker's table complete) go out at
  // once instead of waiting for commit_broadcast_gap: peers wait on them at the epoch's end.
  bool urgent = false;
  // The control thread sleeps past the commit gap with nothing to send: only then does a
  // commit need to wake it (a futex call on the consumer's path); within the gap it naps until
  // the gap ends anyway and finds the commit then. Written with mu held, read by Commit()
  // without it: the control thread stores it and then reads commit_seq, Commit() bumps
  // commit_seq and then reads it (all sequentially consistent), so at least one of the two
  // sees the other's write and no commit sleeps through a long tick.
  std::atomic<bool> control_idle{false};
  // Lock-free commits (Commit() with no partition finished and no handover planned): the
  // consumer stores each active partition's cursor in committed[p], then bumps commit_seq; the
  // control thread takes them into the table (ApplyCommitsLocked) before it sends or persists,
  // and StateLocked() merges them. Sized to the epoch's partitions by StartEpoch (mu held);
  // committed cursors only grow within an epoch.
  std::vector<std::atomic<std::uint64_t>> committed;
  std::atomic<std::uint64_t> commit_seq{0};
  std::uint64_t applied_seq = 0;  // guarded by mu: commit_seq last taken into the table
  // table.terms_version() when SyncLocked last checked the active partitions' owners.
  static constexpr std::uint64_t kNeverChecked = ~std::uint64_t{0};
  std::uint64_t owners_checked = kNeverChecked;
  PartitionTable table;
  std::optional<PartitionTable> previous;  // the last epoch, still sent for stragglers
  std::set<std::string> dead;              // of table.members(), declared dead this epoch
  // Of `dead`, those this worker took partitions over from (or could have: it had a quorum
  // when it last ran TakeOver with them dead). They stay dead for the epoch; the others leave
  // `dead` when seen live again.
  std::set<std::string> dead_acted_on;
  std::map<std::string, SteadyClock::time_point> heard_from;  // last progress message, by sender
  std::set<std::string> done_reporters;  // members whose table says the epoch is done
  std::set<std::string> live;            // live member names, refreshed by the control loop
  // Members outside the epoch's M0 that sent progress of this epoch (they joined mid-epoch),
  // and those of them live and not dead now (sorted; the control loop refreshes it and bumps
  // guests_version when it changes).
  std::set<std::string> guests_heard;
  std::vector<std::string> guests;
  std::uint64_t guests_version = 0;
  std::vector<std::pair<std::uint32_t, SteadyClock::time_point>> pending_takeovers;
  std::map<std::uint64_t, ProgressMessage> stash;  // messages of epochs not started yet
  // mu held: keeps `m` (of an epoch not installed yet, or of one to rejoin), merged with what
  // is kept of the same epoch and member set; at most four epochs.
  void StashLocked(ProgressMessage m);
  // Merges `m`'s entries (higher term, then higher cursor) and handovers into `into`, a
  // message of the same epoch and member set.
  static void MergeProgress(ProgressMessage& into, const ProgressMessage& m);

  // ---- Re-joining an epoch as a guest (mesh_loader_rejoin.cc). Guarded by mu.
  // A worker that hears no progress of an epoch within settle fixes a member set of its own,
  // with itself in it. If the mesh had started that epoch without it, every member of the
  // mesh's set sends progress naming that set, which lacks this worker and lies within its
  // own. Once every live member of such a set has named it, this worker installs the epoch
  // again with it, as a guest (Rejoin). One peer naming a smaller set is not enough while
  // another member of that set still names this worker's (that peer fixed its own too early).
  // Current epoch: progress naming sets that may be the mesh's, merged per set.
  std::map<std::vector<std::string>, ProgressMessage> rejoin_candidates;
  // A set was confirmed: stash[epoch] holds its progress, and the consumer thread rejoins.
  bool rejoin_pending = false;
  // Senders of progress by epoch (this one and later ones), each with the member set its
  // latest progress of that epoch named: who has started which epoch, and with which set.
  std::map<std::uint64_t, std::map<std::string, std::vector<std::string>>> epoch_senders;
  MeshLoaderStats shared_stats;  // takeovers, conflicts
  // Bumped, with mu held, by every thread but the consumer at the end of each section in
  // which it held mu (and may have changed what Next() checks). Next() takes mu only when this
  // moved since its last locked check, when the control loop's last tick (last_tick_ns, read
  // against the coarse clock) is older than stall_threshold, or every kRecheckEvery samples;
  // an uncontended per-sample lock still lost the consumer its core whenever a background
  // thread holding mu was preempted. Bumping last, just before unlocking, means a consumer
  // that sees the bump finds mu free, and one that misses it is ordered before the section.
  std::atomic<std::uint64_t> changes{0};
  void NoteChangeLocked() { changes.fetch_add(1, std::memory_order_release); }
  // Bumps `changes` when a locked section ends (declare it after the lock guard).
  struct BumpOnExit {
    explicit BumpOnExit(Impl& impl) : impl(impl) {}
    ~BumpOnExit() { impl.NoteChangeLocked(); }
    BumpOnExit(const BumpOnExit&) = delete;
    BumpOnExit& operator=(const BumpOnExit&) = delete;
    Impl& impl;
  };
  // The control loop's last tick, in nanoseconds of the steady clock. Written by the control
  // thread with mu held; an atomic so that the consumer's lock-free path can check it too.
  std::atomic<std::int64_t> last_tick_ns{ToNanos(SteadyClock::now())};
  // Nanoseconds since the control loop's last tick, by `now_ns` of the same clock.
  std::int64_t SinceLastTick(std::int64_t now_ns) const {
    return now_ns - last_tick_ns.load(std::memory_order_relaxed);
  }
  std::int64_t StallThresholdNanos() const {
    return std::chrono::nanoseconds(options.stall_threshold).count();
  }
  // The previous epoch's table goes with the first broadcast after StartEpoch too: its
  // "all done" may not have left yet, and peers still finishing it wait on it.
  bool previous_pending = false;  // guarded by mu

  // ---- Consumer thread only. ----
  EpochOrder order;
  std::vector<ActivePartition> active;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> finished;  // not yet committed
  std::function<void()> before_commit;
  std::size_t rr = 0;
  std::uint64_t since_commit = 0;
  static constexpr std::uint64_t kForceCheck = ~std::uint64_t{0};
  static constexpr std::uint32_t kRecheckEvery = 64;
  std::uint64_t changes_seen = kForceCheck;  // `changes` at the last locked check
  std::uint64_t guests_planned = 0;          // guests_version the handover plan is for
  std::size_t handovers_planned = 0;         // active partitions with a handover_to
  std::uint32_t unchecked = 0;               // samples since the last locked check
  // Read by stats() from any thread.
  // Written by the consumer only (Bump), read by stats() from any thread.
  std::atomic<std::uint64_t> samples{0}, local_samples{0}, remote_samples{0}, lost{0}, commits{0};
  // One writer: a plain load and store, not a locked read-modify-write on every sample.
  static void Bump(std::atomic<std::uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  SteadyClock::time_point waiting_since{};

  std::thread control;
  std::unique_ptr<internal::StreamCheckpointWriter> checkpoints;  // null: not persisted
  bool persist_pending = false;                                   // guarded by mu
  bool evicted = false;  // guarded by mu: this worker lost partitions to a higher term
  SteadyClock::time_point resync_until{};  // guarded by mu
  // guarded by mu: the control loop's last quorum verdict (at least half of the epoch's
  // members recently heard from and alive). Without it this worker hands nothing over.
  bool quorum_seen = false;
  std::vector<std::string> view;                            // guarded by mu: live, sorted
  SteadyClock::time_point view_since = SteadyClock::now();  // guarded by mu: unchanged since

  // ---------------------------------------------------------------- messages
  ProgressMessage MessageOf(const PartitionTable& t) const;

  void OnProgress(const mesh::Envelope& envelope);
  // mu held: logs `what` (a progress message ignored as conflicting) once per epoch; the
  // conflicts are counted in shared_stats.progress_conflicts.
  void WarnConflictOnceLocked(std::uint64_t epoch, const std::string& what);
  std::uint64_t conflict_warned_epoch = ~std::uint64_t{0};  // guarded by mu
  // Senders whose latest progress was for another plan, with the incarnation it came with
  // (guarded by mu). A later message for this plan clears the entry, and so does the sender
  // leaving, dying or coming back with another incarnation (fixed and restarted). One of them
  // in this epoch's member set fails the epoch: it reads a different split, so samples would
  // be lost and duplicated.
  std::map<std::string, std::uint64_t> foreign_plan_from;
  Status ForeignPlanLocked() const;

  void Broadcast(const std::vector<ProgressMessage>& messages);

  // mu held.
  checkpoint::StreamState StateLocked() const;

  // ---------------------------------------------------------------- control thread
  bool all_done_sent = false;  // control thread, per epoch

  // mu held. The epoch is over for this worker when its table is complete and every live
  // member of the epoch has said its table is complete too: then nobody still needs an entry
  // only this worker could send, and it may leave or start the next epoch.
  bool EpochOverLocked() const;

  void ControlLoop();

  // mu held: takes the lock-free commits (see `committed`) into the table.
  void ApplyCommitsLocked();

  // mu held through `lock`, released while sending: the table (and the last epoch's) to peers.
  void SendProgress(std::unique_lock<std::mutex>& lock, bool with_previous);

  // ---------------------------------------------------------------- epoch start
  Result<std::vector<std::string>> WaitForSettledMembers();

  Status StartEpoch(std::uint64_t epoch);

  // The epoch's members settle at slightly different moments (each on its own view, after its
  // own shard placement): a worker that started first would otherwise read alone for a while
  // and then wait for the others at the epoch's end. Waits until every other live member of
  // M0 has sent progress of this epoch (it has started it), or for `settle` at most.
  void WaitForPeersToStart();

  Status InstallEpoch(std::uint64_t epoch);
  // Builds and installs the epoch's table over `members` (with what the stash holds of it).
  // `rejoin`: the same epoch again, with the mesh's member set: the old table is dropped
  // rather than kept as the previous epoch's.
  Status InstallTable(std::uint64_t epoch, std::vector<std::string> members, bool rejoin);
  // Consumer thread, mu not held: installs the current epoch again with the member set of the
  // progress stashed for it (see rejoin_pending). What this worker delivered under its own
  // set is delivered again by the owners.
  Status Rejoin();
  // mu held: whether `theirs` (the members named by progress of the current epoch) may be a
  // set the mesh started it with before this worker was a member: it lacks this worker and
  // lies within this worker's own set.
  bool StartedWithoutUsLocked(const std::vector<std::string>& theirs) const;
  // mu held: keeps `m` (current epoch, StartedWithoutUsLocked) and rejoins if its set is
  // confirmed (MaybeRejoinLocked).
  void AddRejoinCandidateLocked(ProgressMessage m);
  // mu held: sets rejoin_pending when every live member of a candidate set named it last.
  void MaybeRejoinLocked();
  std::uint64_t samples_at_install = 0;  // consumer thread: `samples` when the epoch began

  MeshEpochInputs EpochInputs(std::uint64_t epoch) const;

  // mu held.
  void Activate(std::uint32_t p);

  // ---------------------------------------------------------------- consumer
  // mu held. Adopts takeovers whose grace passed and drops partitions given to a higher term.
  // Per delivered sample: cheap unless a takeover is pending or some owner changed.
  void SyncLocked();

  bool IsActive(std::uint32_t p) const {
    return std::any_of(active.begin(), active.end(),
                       [p](const ActivePartition& a) { return a.partition == p; });
  }
  // Consumer thread: stops delivering active[i] (finished, evicted or handed over), keeping the
  // round-robin position and the count of planned handovers right.
  void EraseActive(std::size_t i) {
    if (!active[i].handover_to.empty()) --handovers_planned;
    active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
    if (i < rr) --rr;
  }

  // mu held, consumer thread. Members joined mid-epoch (guests) get the partitions the
  // assignment over the live members and the guests would give them: each owner marks those
  // of its partitions, and Commit hands them over (so they resume exactly at a commit).
  void PlanHandoversLocked();

  // mu held, consumer thread, inside Commit (after the cursors were recorded): hands the
  // planned partitions over at the cursors just committed. Returns whether any was.
  bool HandOverLocked();

  std::uint32_t WindowOf(const ActivePartition& a, std::uint64_t position) const {
    return static_cast<std::uint32_t>(
        std::upper_bound(a.window_end.begin(), a.window_end.end(), position) -
        a.window_end.begin());
  }

  void StartWindow(ActivePartition& a, std::uint32_t w);

  Status LoadWindow(ActivePartition& a, std::uint32_t w);

  Result<std::optional<Sample>> Next();

  // Consumer thread: whether Next() must take mu before delivering (see `changes`).
  bool NeedsLockedCheck() {
    return changes.load(std::memory_order_acquire) != changes_seen ||
           ++unchecked >= kRecheckEvery || active.empty() ||
           SinceLastTick(CoarseNowNanos()) > StallThresholdNanos();
  }

  void Commit();
};

}  // namespace shardmesh::loader
