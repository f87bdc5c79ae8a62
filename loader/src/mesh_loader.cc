#include "shardmesh/loader/mesh_loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "mesh_block_reader.h"
#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/common/thread_name.h"
#include "shardmesh/loader/partition_table.h"
#include "shardmesh/loader/progress_message.h"
#include "shardmesh/mesh/ring.h"
#include "stream_checkpoint_writer.h"

namespace shardmesh::loader {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t ToNanos(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// CLOCK_MONOTONIC (steady_clock's clock on Linux) at jiffy resolution: a few ns per read, as
// it only reads what the kernel last stored, where the precise clock costs ~10x that here.
std::int64_t CoarseNowNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Consumer-side state of one partition this worker delivers.
struct ActivePartition {
  std::uint32_t partition = 0;
  std::uint64_t delivered = 0;            // next position in the partition's own order
  std::vector<std::uint64_t> window_end;  // cumulative sample count at the end of each window
  std::uint32_t window = UINT32_MAX;      // decoded window
  std::map<std::uint32_t, std::shared_ptr<const DecodedBlock>> blocks;  // of `window`
  std::map<std::uint32_t, std::vector<internal::PendingBlock>> ahead;   // window -> reads
  std::set<std::uint32_t> remote_blocks;  // blocks of `window` that came from peers
  std::string handover_to;  // a member that joined mid-epoch takes it at the next commit
};

}  // namespace

struct MeshLoader::Impl {
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
  // Senders of progress by epoch (this one and later ones): who has started which epoch.
  std::map<std::uint64_t, std::set<std::string>> epoch_senders;
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
  ProgressMessage MessageOf(const PartitionTable& t) const {
    ProgressMessage m;
    m.epoch = t.epoch();
    m.plan_digest = plan_digest;
    m.members = t.members();
    m.all_done = t.AllDone();
    m.entries = t.Entries();
    m.handovers = t.Handovers();
    return m;
  }

  void OnProgress(const mesh::Envelope& envelope) {
    auto m = DecodeProgress(envelope.payload.chars());
    if (!m.ok()) {
      spdlog::warn("progress message from {}: {}", envelope.header.sender, m.status().message());
      return;
    }
    std::lock_guard lock(mu);
    const BumpOnExit bump(*this);  // destroyed before `lock`: the bump precedes the unlock
    heard_from[envelope.header.sender] = SteadyClock::now();
    if (m->plan_digest != plan_digest) {
      ++shared_stats.progress_conflicts;
      return;
    }
    if ((!started || m->epoch >= table.epoch()) &&
        epoch_senders[m->epoch].insert(envelope.header.sender).second) {
      consumer_cv.notify_all();  // WaitForPeersToStart
    }
    while (epoch_senders.size() > 4) epoch_senders.erase(epoch_senders.begin());
    if (started && m->epoch == table.epoch()) {
      if (m->members != table.members()) {
        ++shared_stats.progress_conflicts;
        return;
      }
      const auto& sender = envelope.header.sender;
      if (!std::binary_search(table.members().begin(), table.members().end(), sender))
        guests_heard.insert(sender);
      bool changed = false;
      for (const auto& h : m->handovers) changed |= table.MergeHandover(h);
      for (const auto& e : m->entries) changed |= table.Merge(e);
      if (m->all_done) changed |= done_reporters.insert(envelope.header.sender).second;
      if (changed) consumer_cv.notify_all();
      // This worker's table just became complete: its "all done" is news for the peers.
      if (changed && !all_done_sent && table.AllDone()) control_cv.notify_all();
      return;
    }
    if (!started || m->epoch > table.epoch()) {
      auto [it, fresh] = stash.try_emplace(m->epoch, *m);
      if (!fresh && it->second.members == m->members) {
        for (const auto& e : m->entries) {
          auto& cur = it->second.entries;
          if (e.partition < cur.size() &&
              (e.term > cur[e.partition].term ||
               (e.term == cur[e.partition].term && e.cursor > cur[e.partition].cursor))) {
            cur[e.partition] = e;
          }
        }
        for (const auto& h : m->handovers) {
          auto& known = it->second.handovers;
          if (known.size() < 4 * it->second.entries.size() &&
              std::find(known.begin(), known.end(), h) == known.end()) {
            known.push_back(h);
          }
        }
      }
      while (stash.size() > 4) stash.erase(stash.begin());
    }
  }

  void Broadcast(const std::vector<ProgressMessage>& messages) {
    std::vector<std::string> peers;
    for (const auto& m : node->Members())
      if (m.name != node->name() && mesh::IsLive(m.state)) peers.push_back(m.endpoint);
    if (peers.empty() || messages.empty()) return;
    std::vector<mesh::Envelope> envelopes;
    for (const auto& m : messages) {
      mesh::Envelope e;
      e.header.type = mesh::MessageType::kPartitionProgress;
      e.header.sender = node->name();
      e.header.sender_endpoint = node->endpoint();
      e.payload = SharedBytes::FromString(EncodeProgress(m));
      envelopes.push_back(std::move(e));
    }
    node->Post([peers = std::move(peers), envelopes = std::move(envelopes)](mesh::Transport& t) {
      for (const auto& to : peers)
        for (const auto& e : envelopes) (void)t.Send(to, e);
    });
  }

  // mu held.
  checkpoint::StreamState StateLocked() const {
    checkpoint::StreamState st;
    st.epoch = table.epoch();
    st.seed = options.seed;
    st.plan_digest = plan_digest;
    st.membership_digest = table.members_digest();
    st.world_size = static_cast<std::uint32_t>(table.members().size());
    st.timestamp_ms = SystemClock::Instance().WallMillis();
    st.strategy = static_cast<std::uint32_t>(options.strategy);
    for (const auto& e : table.Entries()) {
      std::uint64_t cursor = e.cursor;
      if (e.partition < committed.size()) {
        cursor = std::max(cursor, std::min(committed[e.partition].load(std::memory_order_acquire),
                                           table.size(e.partition)));
      }
      if (cursor > 0) st.cursors.push_back({e.partition, cursor});
    }
    return st;
  }

  // ---------------------------------------------------------------- control thread
  bool all_done_sent = false;  // control thread, per epoch

  // mu held. The epoch is over for this worker when its table is complete and every live
  // member of the epoch has said its table is complete too: then nobody still needs an entry
  // only this worker could send, and it may leave or start the next epoch.
  bool EpochOverLocked() const {
    if (!table.AllDone()) return false;
    for (const auto& m : table.members()) {
      if (m == node->name() || !live.count(m) || dead.count(m)) continue;
      if (!done_reporters.count(m)) return false;
    }
    return true;
  }

  void ControlLoop() {
    auto next_broadcast = SteadyClock::now();
    auto next_persist = SteadyClock::now();
    auto next_commit_broadcast = SteadyClock::now();  // commits coalesce until then
    std::unique_lock lock(mu);
    while (!stop) {
      const auto before = SteadyClock::now();
      ApplyCommitsLocked();
      if (!dirty && before >= next_commit_broadcast) {
        control_idle.store(true);
        // A lock-free commit that did not see the store above is seen here.
        if (commit_seq.load() != applied_seq) {
          control_idle.store(false);
          ApplyCommitsLocked();
        }
      }
      auto wake = before + std::chrono::milliseconds(50);
      if (dirty) {
        wake = urgent ? before : std::min(wake, next_commit_broadcast);
      } else if (before < next_commit_broadcast) {
        wake = std::min(wake, next_commit_broadcast);
      }
      NoteChangeLocked();
      control_cv.wait_until(lock, wake);
      control_idle.store(false, std::memory_order_relaxed);
      if (stop) break;
      const auto tick = SteadyClock::now();
      const std::int64_t stalled_ns = SinceLastTick(ToNanos(tick));
      if (stalled_ns > StallThresholdNanos() && started) {
        // This process was frozen (SIGSTOP, swap, a debugger): peers may have declared it dead
        // and taken its partitions. Hold delivery until their progress has had time to arrive.
        resync_until = tick + options.takeover_grace;
        spdlog::warn(
            "epoch {}: this process stalled for {} ms; pausing delivery {} ms to catch "
            "up with the mesh",
            table.epoch(), stalled_ns / 1'000'000,
            std::chrono::duration_cast<std::chrono::milliseconds>(options.takeover_grace).count());
      }
      last_tick_ns.store(ToNanos(tick), std::memory_order_relaxed);
      consumer_cv.notify_all();
      NoteChangeLocked();
      lock.unlock();
      auto live_view = node->LiveMembers();
      std::sort(live_view.begin(), live_view.end());
      lock.lock();
      if (live_view != view) {
        view = std::move(live_view);
        view_since = tick;
      }
      if (!started) continue;
      NoteChangeLocked();
      lock.unlock();
      const auto members = node->Members();
      lock.lock();
      if (!started) continue;
      live.clear();
      for (const auto& m : members)
        if (mesh::IsLive(m.state)) live.insert(m.name);
      for (const auto& m : members) {
        if (!mesh::IsLive(m.state) && m.name != node->name() &&
            (std::binary_search(table.members().begin(), table.members().end(), m.name) ||
             table.IsGuest(m.name)) &&
            dead.insert(m.name).second) {
          spdlog::info("epoch {}: {} is dead; its unfinished partitions move to their next owners",
                       table.epoch(), m.name);
        }
      }
      {
        std::vector<std::string> now_guests;
        for (const auto& g : guests_heard)
          if (live.count(g) && !dead.count(g)) now_guests.push_back(g);
        if (now_guests != guests) {
          guests = std::move(now_guests);
          ++guests_version;
        }
      }
      // A worker that sees fewer than half of the epoch's members alive is more likely cut
      // off than surrounded by corpses: it keeps its own partitions and takes none, so a
      // network partition does not make a lone worker deliver everyone's data.
      // Suspects do not count: cut off, a worker suspects everyone at once. Nor do members
      // whose progress has not arrived within quorum_window: SWIM may not have probed them
      // since the cut (CI saw a lone worker take 16 partitions, still counting as alive a peer
      // it had not heard from for 2 s).
      std::size_t alive_members = 0;
      for (const auto& m : members) {
        const auto heard = heard_from.find(m.name);
        const bool recent =
            m.name == node->name() ||
            (heard != heard_from.end() && tick - heard->second <= options.quorum_window);
        alive_members += recent && m.state == mesh::MemberState::kAlive && !dead.count(m.name) &&
                         std::binary_search(table.members().begin(), table.members().end(), m.name);
      }
      const bool quorum = 2 * alive_members >= table.members().size();
      quorum_seen = quorum;
      const auto mine =
          evicted || !quorum ? std::vector<std::uint32_t>{} : table.TakeOver(dead, node->name());
      if (!mine.empty()) {
        const auto ready = SteadyClock::now() + options.takeover_grace;
        for (std::uint32_t p : mine) pending_takeovers.emplace_back(p, ready);
        shared_stats.partitions_taken_over += mine.size();
        spdlog::info(
            "epoch {}: taking over partitions {} (resuming in {} ms)", table.epoch(),
            fmt::join(mine, ","),
            std::chrono::duration_cast<std::chrono::milliseconds>(options.takeover_grace).count());
        dirty = true;
      }
      const auto now = SteadyClock::now();
      ApplyCommitsLocked();
      if (table.AllDone() && !all_done_sent) {
        all_done_sent = true;
        dirty = true;
        urgent = true;
      }
      if (checkpoints && persist_pending && now >= next_persist) {
        // Handed to the writer thread: a slow fsync must not delay the broadcast below.
        persist_pending = false;
        next_persist = now + options.persist_interval;
        checkpoints->Submit(StateLocked());
      }
      const bool periodic = now >= next_broadcast;
      if ((dirty && (now >= next_commit_broadcast || urgent)) || periodic) {
        urgent = false;
        next_broadcast = now + options.progress_interval;
        next_commit_broadcast = now + options.commit_broadcast_gap;
        // The previous epoch's table no longer changes: it rides with the periodic broadcast
        // only (for peers still finishing it), not with every coalesced commit.
        SendProgress(lock, /*with_previous=*/periodic);
      }
    }
    // Commits still waiting for their gap leave with the loader (a clean stop replays nothing).
    ApplyCommitsLocked();
    if (started && dirty) SendProgress(lock, /*with_previous=*/true);
  }

  // mu held: takes the lock-free commits (see `committed`) into the table.
  void ApplyCommitsLocked() {
    const std::uint64_t seq = commit_seq.load(std::memory_order_acquire);
    if (seq == applied_seq) return;
    applied_seq = seq;
    for (std::uint32_t p = 0; p < committed.size(); ++p) {
      const std::uint64_t cursor = committed[p].load(std::memory_order_relaxed);
      if (cursor > 0) table.Advance(p, cursor);
    }
    dirty = true;
    persist_pending = true;
  }

  // mu held through `lock`, released while sending: the table (and the last epoch's) to peers.
  void SendProgress(std::unique_lock<std::mutex>& lock, bool with_previous) {
    std::vector<ProgressMessage> messages{MessageOf(table)};
    if (previous && (with_previous || previous_pending)) {
      messages.push_back(MessageOf(*previous));
      previous_pending = false;
    }
    dirty = false;
    NoteChangeLocked();
    lock.unlock();
    Broadcast(messages);
    lock.lock();
  }

  // ---------------------------------------------------------------- epoch start
  Result<std::vector<std::string>> WaitForSettledMembers() {
    const auto start = SteadyClock::now();
    std::vector<std::string> last;
    auto since = start;
    {
      // The control loop has watched the view before: count the time it has been stable.
      std::lock_guard lock(mu);
      last = view;
      since = view_since;
    }
    for (;;) {
      auto live = node->LiveMembers();
      std::sort(live.begin(), live.end());
      const bool agreed = node->Snapshot().agreed;
      const auto now = SteadyClock::now();
      if (live != last || !agreed || live.size() < options.min_members) {
        last = live;
        since = now;
      } else if (now - since >= options.settle) {
        return live;
      }
      if (options.start_timeout > Duration::zero() && now - start >= options.start_timeout) {
        return Status::DeadlineExceeded(fmt::format(
            "mesh loader: the membership did not settle within {} ms (live: {}, need {}, "
            "views agree: {})",
            std::chrono::duration_cast<std::chrono::milliseconds>(options.start_timeout).count(),
            fmt::join(live, ","), options.min_members, agreed));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  Status StartEpoch(std::uint64_t epoch) {
    SHARDMESH_RETURN_IF_ERROR(InstallEpoch(epoch));
    WaitForPeersToStart();
    return Status::OK();
  }

  // The epoch's members settle at slightly different moments (each on its own view, after its
  // own shard placement): a worker that started first would otherwise read alone for a while
  // and then wait for the others at the epoch's end. Waits until every other live member of
  // M0 has sent progress of this epoch (it has started it), or for `settle` at most.
  void WaitForPeersToStart() {
    const auto deadline = SteadyClock::now() + options.settle;
    std::unique_lock lock(mu);
    for (;;) {
      std::vector<std::string> waiting;
      const auto& heard = epoch_senders[table.epoch()];
      for (const auto& m : table.members()) {
        if (m != node->name() && live.count(m) && !dead.count(m) && !heard.count(m))
          waiting.push_back(m);
      }
      if (waiting.empty() || stop) return;
      if (SteadyClock::now() >= deadline) {
        spdlog::info("epoch {}: starting without word from {} (they have not started it yet)",
                     table.epoch(), fmt::join(waiting, ","));
        return;
      }
      consumer_cv.wait_until(
          lock, std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(20)));
    }
  }

  Status InstallEpoch(std::uint64_t epoch) {
    SHARDMESH_ASSIGN_OR_RETURN(std::vector<std::string> members, WaitForSettledMembers());
    std::optional<ProgressMessage> known;
    {
      std::lock_guard lock(mu);
      // The mesh is already in this epoch (a restart or a late joiner): use its member set.
      if (auto it = stash.find(epoch); it != stash.end()) known = it->second;
    }
    if (known) members = known->members;
    EpochOrderOptions eo;
    eo.seed = options.seed;
    eo.epoch = epoch;
    eo.partitions = options.partitions;
    eo.shuffle_window_blocks = options.shuffle_window_blocks;
    SHARDMESH_ASSIGN_OR_RETURN(order, EpochOrder::Build(catalog->layout(), eo));
    auto pref = BuildPreferences(*catalog, order, members, EpochInputs(epoch));
    std::vector<std::uint64_t> sizes(order.num_partitions());
    for (std::uint32_t p = 0; p < sizes.size(); ++p) sizes[p] = order.PartitionSamples(p).size();
    PartitionTable fresh(epoch, members, std::move(pref), std::move(sizes));
    if (options.restore && options.restore->epoch == epoch) {
      for (const auto& c : options.restore->cursors) fresh.Merge({c.partition, 0, c.consumed});
    }
    const auto live_now = node->LiveMembers();  // before mu: the node has its own lock
    std::lock_guard lock(mu);
    const BumpOnExit bump(*this);
    changes_seen = kForceCheck;
    if (started) {
      ApplyCommitsLocked();
      previous = std::move(table);
      previous_pending = true;
    }
    table = std::move(fresh);
    committed = std::vector<std::atomic<std::uint64_t>>(table.partitions());
    applied_seq = commit_seq.load();
    owners_checked = kNeverChecked;
    if (auto it = stash.find(epoch); it != stash.end()) {
      if (it->second.members == table.members()) {
        for (const auto& h : it->second.handovers) table.MergeHandover(h);
        for (const auto& e : it->second.entries) table.Merge(e);
      }
    }
    stash.erase(stash.begin(), stash.upper_bound(epoch));
    epoch_senders.erase(epoch_senders.begin(), epoch_senders.lower_bound(epoch));
    dead.clear();
    done_reporters.clear();
    quorum_seen = false;
    guests_heard.clear();
    guests.clear();
    ++guests_version;
    guests_planned = guests_version;
    handovers_planned = 0;
    all_done_sent = false;
    live = std::set<std::string>(live_now.begin(), live_now.end());
    pending_takeovers.clear();
    started = true;
    dirty = true;
    active.clear();
    finished.clear();
    rr = 0;
    evicted = false;
    const bool restored = options.restore && options.restore->epoch == epoch;
    const auto ready = SteadyClock::now() + options.takeover_grace;
    for (std::uint32_t p : table.OwnedBy(node->name())) {
      if (restored) {
        pending_takeovers.emplace_back(p, ready);
      } else {
        Activate(p);
      }
    }
    const bool member = std::binary_search(members.begin(), members.end(), node->name());
    spdlog::info("epoch {}: {} members ({}), {} partitions, {} owned here{}", epoch, members.size(),
                 fmt::join(members, ","), table.partitions(),
                 active.size() + pending_takeovers.size(),
                 member ? ""
                        : " (joined mid-epoch: serving data, and delivering the partitions "
                          "their owners hand over at their commits)");
    control_cv.notify_all();
    return Status::OK();
  }

  MeshEpochInputs EpochInputs(std::uint64_t epoch) const {
    MeshEpochInputs in;
    in.strategy = options.strategy;
    in.replication = options.replication;
    in.ring = options.ring;
    in.seed = options.seed;
    in.epoch = epoch;
    in.eps = options.load_eps;
    return in;
  }

  // mu held.
  void Activate(std::uint32_t p) {
    ActivePartition a;
    a.partition = p;
    a.delivered = table.entry(p).cursor;
    const auto blocks = order.PartitionBlocks(p);
    const std::uint32_t w = options.shuffle_window_blocks;
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      total += catalog->blocks()[blocks[i]].num_samples;
      if ((i + 1) % w == 0 || i + 1 == blocks.size()) a.window_end.push_back(total);
    }
    table.MarkStarted(p);
    auto pos =
        std::lower_bound(active.begin(), active.end(), p,
                         [](const ActivePartition& x, std::uint32_t v) { return x.partition < v; });
    if (pos != active.end() && pos->partition == p) return;
    const std::size_t index = static_cast<std::size_t>(pos - active.begin());
    active.insert(pos, std::move(a));
    if (index < rr) ++rr;
  }

  // ---------------------------------------------------------------- consumer
  // mu held. Adopts takeovers whose grace passed and drops partitions given to a higher term.
  // Per delivered sample: cheap unless a takeover is pending or some owner changed.
  void SyncLocked() {
    if (!pending_takeovers.empty()) {
      const auto now = SteadyClock::now();
      for (auto it = pending_takeovers.begin(); it != pending_takeovers.end();) {
        if (it->second <= now) {
          if (table.Owner(it->first) == node->name() && !table.done(it->first)) Activate(it->first);
          it = pending_takeovers.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (guests_version != guests_planned) PlanHandoversLocked();
    if (table.terms_version() == owners_checked) return;
    owners_checked = table.terms_version();
    {
      // Partitions an owner handed over to this worker (it joined mid-epoch): they resume at
      // the owner's commit, so there is no late commit to wait for. An explicit grant at an
      // exact cursor: taken even by a worker that was evicted from other partitions.
      for (std::uint32_t p : table.OwnedBy(node->name())) {
        if (!table.HandedOver(p) || IsActive(p)) continue;
        spdlog::info("epoch {}: partition {} handed over to this worker at sample {} of {}",
                     table.epoch(), p, table.entry(p).cursor, table.size(p));
        ++shared_stats.partitions_received;
        Activate(p);
      }
    }
    for (std::size_t i = 0; i < active.size();) {
      const std::uint32_t p = active[i].partition;
      if (table.Owner(p) != node->name()) {
        if (table.HandedOver(p)) {
          // A previous owner handed it to a newcomer under a higher term (it had not heard of
          // this worker's takeover): a stop, not a sign that this worker was declared dead.
          spdlog::warn("epoch {}: partition {} was handed over to {}; stopping it", table.epoch(),
                       p, table.Owner(p));
        } else {
          spdlog::warn(
              "epoch {}: partition {} now belongs to {} (this worker was declared dead); "
              "stopping it",
              table.epoch(), p, table.Owner(p));
          Bump(lost);
          evicted = true;  // declared dead once: take nothing more this epoch
        }
        if (!active[i].handover_to.empty()) --handovers_planned;
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
        if (i < rr) --rr;
      } else {
        ++i;
      }
    }
  }

  bool IsActive(std::uint32_t p) const {
    return std::any_of(active.begin(), active.end(),
                       [p](const ActivePartition& a) { return a.partition == p; });
  }

  // mu held, consumer thread. Members joined mid-epoch (guests) get the partitions the
  // assignment over the live members and the guests would give them: each owner marks those
  // of its partitions, and Commit hands them over (so they resume exactly at a commit).
  void PlanHandoversLocked() {
    guests_planned = guests_version;
    handovers_planned = 0;
    for (auto& a : active) a.handover_to.clear();
    if (guests.empty() || evicted || active.empty()) return;
    std::vector<std::string> now;
    for (const auto& m : table.members())
      if ((live.count(m) || m == node->name()) && !dead.count(m)) now.push_back(m);
    now.insert(now.end(), guests.begin(), guests.end());
    now.push_back(node->name());
    std::sort(now.begin(), now.end());
    now.erase(std::unique(now.begin(), now.end()), now.end());
    if (now.size() > UINT16_MAX) return;
    const auto pref = BuildPreferences(*catalog, order, now, EpochInputs(table.epoch()));
    for (auto& a : active) {
      const std::string& owner = now[pref[a.partition].front()];
      if (owner == node->name() ||
          std::binary_search(table.members().begin(), table.members().end(), owner)) {
        continue;
      }
      a.handover_to = owner;
      ++handovers_planned;
    }
    if (handovers_planned > 0) {
      spdlog::info(
          "epoch {}: {} of this worker's partitions go to members that joined "
          "mid-epoch ({}) at the next commit",
          table.epoch(), handovers_planned, fmt::join(guests, ","));
    }
  }

  // mu held, consumer thread, inside Commit (after the cursors were recorded): hands the
  // planned partitions over at the cursors just committed. Returns whether any was.
  bool HandOverLocked() {
    // Only a worker sure of its ownership hands over: a handover term outranks any takeover, so
    // one made by a worker that peers may have declared dead meanwhile (it was frozen, or is
    // cut off without a quorum) would override their takeover. Such a worker keeps the plan
    // and tries again at a later commit.
    const auto now = SteadyClock::now();
    if (!quorum_seen || now < resync_until || SinceLastTick(ToNanos(now)) > StallThresholdNanos()) {
      return false;
    }
    bool any = false;
    for (std::size_t i = 0; i < active.size();) {
      ActivePartition& a = active[i];
      if (a.handover_to.empty()) {
        ++i;
        continue;
      }
      --handovers_planned;
      if (table.Owner(a.partition) != node->name() ||
          !std::binary_search(guests.begin(), guests.end(), a.handover_to) ||
          !table.HandOver(a.partition, a.handover_to)) {
        a.handover_to.clear();
        ++i;
        continue;
      }
      spdlog::info("epoch {}: partition {} handed over to {} at sample {} of {}", table.epoch(),
                   a.partition, a.handover_to, a.delivered, table.size(a.partition));
      ++shared_stats.partitions_handed_over;
      any = true;
      active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      if (i < rr) --rr;
    }
    return any;
  }

  std::uint32_t WindowOf(const ActivePartition& a, std::uint64_t position) const {
    return static_cast<std::uint32_t>(
        std::upper_bound(a.window_end.begin(), a.window_end.end(), position) -
        a.window_end.begin());
  }

  void StartWindow(ActivePartition& a, std::uint32_t w) {
    if (w >= a.window_end.size() || a.ahead.count(w)) return;
    const auto blocks = order.PartitionBlocks(a.partition);
    const std::uint32_t per = options.shuffle_window_blocks;
    auto& reads = a.ahead[w];
    for (std::size_t i = static_cast<std::size_t>(w) * per;
         i < blocks.size() && i < (w + 1ull) * per; ++i) {
      reads.push_back(reader->Start(blocks[i]));
    }
  }

  Status LoadWindow(ActivePartition& a, std::uint32_t w) {
    StartWindow(a, w);
    auto reads = std::move(a.ahead[w]);
    a.ahead.erase(w);
    a.blocks.clear();
    a.remote_blocks.clear();
    a.window = w;
    for (auto& r : reads) {
      SHARDMESH_ASSIGN_OR_RETURN(SharedBytes bytes, reader->Finish(r));
      const BlockInfo& info = catalog->blocks()[r.block];
      const std::string where =
          fmt::format("{} block {}{}", catalog->manifest().shards[info.shard].file,
                      info.index_in_shard, r.remote ? " (from a peer)" : "");
      SHARDMESH_ASSIGN_OR_RETURN(
          auto decoded, Dataset::DecodeBlock(catalog->schema(), info, std::move(bytes), where));
      a.blocks[r.block] = std::move(decoded);
      if (r.remote) a.remote_blocks.insert(r.block);
    }
    for (std::uint32_t ahead = 1; ahead <= options.windows_ahead; ++ahead)
      StartWindow(a, w + ahead);
    return Status::OK();
  }

  Result<std::optional<Sample>> Next() {
    for (;;) {
      if (NeedsLockedCheck()) {
        std::unique_lock lock(mu);
        unchecked = 0;
        // Every bump happens with mu held, so this value covers all that is visible now; a
        // pass that waits or loops instead of delivering checks again next time.
        changes_seen = kForceCheck;
        if (!started) return Status::FailedPrecondition("mesh loader: StartEpoch was not called");
        // A control loop that has not ticked for a while means this process was frozen:
        // wait for it to notice (and to pause delivery) before handing out more.
        const auto now = SteadyClock::now();
        if (SinceLastTick(ToNanos(now)) > StallThresholdNanos() || now < resync_until) {
          consumer_cv.wait_for(lock, std::chrono::milliseconds(20));
          continue;
        }
        SyncLocked();
        if (active.empty() && !finished.empty()) {
          lock.unlock();
          Commit();
          continue;
        }
        if (active.empty()) {
          if (EpochOverLocked()) {
            waiting_since = {};
            return std::optional<Sample>();
          }
          const auto now = SteadyClock::now();
          if (waiting_since == SteadyClock::time_point{}) waiting_since = now;
          if (options.epoch_end_timeout > Duration::zero() &&
              now - waiting_since >= options.epoch_end_timeout) {
            std::vector<std::string> open;
            for (std::uint32_t p = 0; p < table.partitions() && open.size() < 8; ++p)
              if (!table.done(p)) open.push_back(fmt::format("{} ({})", p, table.Owner(p)));
            return Status::DeadlineExceeded(fmt::format(
                "epoch {} not finished after {} s; unfinished partitions (owner): {}",
                table.epoch(),
                std::chrono::duration_cast<std::chrono::seconds>(options.epoch_end_timeout).count(),
                fmt::join(open, ", ")));
          }
          consumer_cv.wait_for(lock, std::chrono::milliseconds(50));
          continue;
        }
        changes_seen = changes.load(std::memory_order_relaxed);
      }
      waiting_since = {};
      if (rr >= active.size()) rr = 0;
      ActivePartition& a = active[rr];
      const std::uint64_t position = a.delivered;
      const std::uint64_t sample = order.PartitionSamples(a.partition)[position];
      const std::uint32_t w = WindowOf(a, position);
      if (w != a.window) SHARDMESH_RETURN_IF_ERROR(LoadWindow(a, w));
      const std::uint32_t block = catalog->layout().BlockOfSample(sample);
      const auto& decoded = a.blocks.at(block);
      Sample out{decoded,
                 decoded->sample(static_cast<std::size_t>(sample - decoded->first_sample()))};
      Bump(a.remote_blocks.count(block) ? remote_samples : local_samples);
      ++a.delivered;
      Bump(samples);
      ++since_commit;
      if (a.delivered >= order.PartitionSamples(a.partition).size()) {
        std::lock_guard lock(mu);
        finished.emplace_back(a.partition, a.delivered);
        if (!a.handover_to.empty()) --handovers_planned;
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(rr));
      } else {
        ++rr;
      }
      if (options.commit_every > 0 && since_commit >= options.commit_every) Commit();
      return std::optional<Sample>(std::move(out));
    }
  }

  // Consumer thread: whether Next() must take mu before delivering (see `changes`).
  bool NeedsLockedCheck() {
    return changes.load(std::memory_order_acquire) != changes_seen ||
           ++unchecked >= kRecheckEvery || active.empty() ||
           SinceLastTick(CoarseNowNanos()) > StallThresholdNanos();
  }

  void Commit() {
    if (before_commit) before_commit();
    if (!started) return;  // written by this (the consumer) thread only
    since_commit = 0;
    Bump(commits);
    if (finished.empty() && handovers_planned == 0) {
      // The common case, without the lock: publish the cursors for the control thread.
      for (const auto& a : active)
        committed[a.partition].store(a.delivered, std::memory_order_relaxed);
      commit_seq.fetch_add(1);  // sequentially consistent: see control_idle
      if (!control_idle.load()) return;
      std::lock_guard lock(mu);
      control_cv.notify_all();
      return;
    }
    std::lock_guard lock(mu);
    for (const auto& a : active) table.Advance(a.partition, a.delivered);
    for (const auto& [p, cursor] : finished) table.Advance(p, cursor);
    // A finished partition is news peers wait for at the epoch's end: it skips the gap. So is
    // a handover: the guest waits for it.
    const bool ends_partition = !finished.empty() | (handovers_planned > 0 && HandOverLocked());
    finished.clear();
    // Only a commit that finds the control thread idle past the gap wakes it; the others ride
    // with the next broadcast (see commit_broadcast_gap and control_idle).
    const bool wake = (!dirty && control_idle.load()) || (ends_partition && !urgent);
    urgent |= ends_partition;
    dirty = true;
    persist_pending = true;
    if (wake) control_cv.notify_all();
  }
};

std::uint64_t MeshPlanDigest(const DatasetCatalog& catalog, const MeshLoaderOptions& o) {
  return HashCombine(
      HashCombine(HashCombine(Hash64(catalog.id()), o.seed),
                  (static_cast<std::uint64_t>(o.partitions) << 32) | o.shuffle_window_blocks),
      static_cast<std::uint64_t>(o.strategy));
}

MeshLoader::MeshLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MeshLoader::~MeshLoader() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
    impl_->NoteChangeLocked();
  }
  impl_->control_cv.notify_all();
  impl_->control.join();
  impl_->node->SetMessageHandler(mesh::MessageType::kPartitionProgress, nullptr);
  if (impl_->checkpoints) {
    std::optional<checkpoint::StreamState> last;
    if (impl_->started) {
      std::lock_guard lock(impl_->mu);
      last = impl_->StateLocked();
    }
    impl_->checkpoints->Close(std::move(last));
  }
}

Result<std::unique_ptr<MeshLoader>> MeshLoader::Create(MeshLoaderOptions options,
                                                       mesh::MeshNode& node,
                                                       mesh::BlockExchange& exchange,
                                                       ShardStore& store) {
  if (options.partitions == 0)
    return Status::InvalidArgument("mesh loader: partitions must be > 0");
  if (options.shuffle_window_blocks == 0) {
    return Status::InvalidArgument("mesh loader: shuffle_window_blocks must be > 0");
  }
  if (options.replication == 0)
    return Status::InvalidArgument("mesh loader: replication must be >= 1");
  if (options.min_members == 0)
    return Status::InvalidArgument("mesh loader: min_members must be >= 1");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->node = &node;
  impl->exchange = &exchange;
  impl->store = &store;
  impl->catalog = store.shared_catalog();
  const auto& o = impl->options;
  impl->plan_digest = MeshPlanDigest(*impl->catalog, o);
  internal::BlockReadOptions ro;
  ro.replication = o.replication;
  ro.ring = o.ring;
  ro.try_timeout = o.fetch_try_timeout;
  ro.deadline = o.read_deadline;
  impl->reader =
      std::make_unique<internal::MeshBlockReader>(ro, node, exchange, store, &impl->read_counters);
  if (!o.checkpoint_dir.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(impl->checkpoints, internal::StreamCheckpointWriter::Open(
                                                      o.checkpoint_dir, o.keep_checkpoints));
  }
  Impl* raw = impl.get();
  node.SetMessageHandler(mesh::MessageType::kPartitionProgress,
                         [raw](const mesh::Envelope& e, mesh::Transport&) { raw->OnProgress(e); });
  impl->control = std::thread([raw] {
    SetCurrentThreadName("sm-loader-ctl");
    raw->ControlLoop();
  });
  return std::unique_ptr<MeshLoader>(new MeshLoader(std::move(impl)));
}

Status MeshLoader::StartEpoch(std::uint64_t epoch) { return impl_->StartEpoch(epoch); }
Result<std::optional<Sample>> MeshLoader::Next() { return impl_->Next(); }
void MeshLoader::Commit() { impl_->Commit(); }
void MeshLoader::SetBeforeCommit(std::function<void()> hook) {
  impl_->before_commit = std::move(hook);
}

checkpoint::StreamState MeshLoader::GetCheckpoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->StateLocked();
}

std::uint64_t MeshLoader::plan_digest() const { return impl_->plan_digest; }

MeshLoaderStats MeshLoader::stats() const {
  const Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  MeshLoaderStats s = m.shared_stats;
  if (m.checkpoints) {
    s.checkpoints_persisted = m.checkpoints->persisted();
    s.checkpoint_failures = m.checkpoints->failures();
  }
  s.samples_delivered = m.samples;
  s.local_samples = m.local_samples;
  s.remote_samples = m.remote_samples;
  s.local_bytes = m.read_counters.local_bytes.load();
  s.remote_bytes = m.read_counters.remote_bytes.load();
  s.blocks_healed = m.read_counters.healed.load();
  s.read_retries = m.read_counters.retries.load();
  s.partitions_owned = m.active.size();
  s.partitions_lost = m.lost;
  s.commits = m.commits;
  s.epoch = m.table.epoch();
  s.epoch_remaining = m.started ? m.table.Remaining() : 0;
  return s;
}

std::vector<std::uint32_t> MeshLoader::OwnedPartitions() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::uint32_t> out;
  for (const auto& a : impl_->active) out.push_back(a.partition);
  return out;
}

}  // namespace shardmesh::loader
