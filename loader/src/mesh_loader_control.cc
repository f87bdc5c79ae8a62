// MeshLoader::Impl, control side: progress messages in and out, and the control thread.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "mesh_loader_impl.h"
#include "revived_members.h"

namespace shardmesh::loader {

ProgressMessage MeshLoader::Impl::MessageOf(const PartitionTable& t) const {
  ProgressMessage m;
  m.epoch = t.epoch();
  m.plan_digest = plan_digest;
  m.members = t.members();
  m.all_done = t.AllDone();
  m.entries = t.Entries();
  m.handovers = t.Handovers();
  return m;
}

void MeshLoader::Impl::WarnConflictOnceLocked(std::uint64_t epoch, const std::string& what) {
  if (conflict_warned_epoch == epoch) return;
  conflict_warned_epoch = epoch;
  spdlog::warn("epoch {}: {}", epoch, what);
}

Status MeshLoader::Impl::ForeignPlanLocked() const {
  if (!started) return Status::OK();
  for (const auto& [peer, incarnation] : foreign_plan_from) {
    const auto& members = table.members();
    if (std::find(members.begin(), members.end(), peer) == members.end()) continue;
    return Status::FailedPrecondition(fmt::format(
        "epoch {}: member {} runs another plan (its dataset, seed, partitions, shuffle window "
        "or strategy differ from this worker's); every worker of a job needs the same, and "
        "reading on would lose and duplicate samples",
        table.epoch(), peer));
  }
  return Status::OK();
}

void MeshLoader::Impl::OnProgress(const mesh::Envelope& envelope) {
  auto m = DecodeProgress(envelope.payload.chars());
  if (!m.ok()) {
    spdlog::warn("progress message from {}: {}", envelope.header.sender, m.status().message());
    return;
  }
  std::lock_guard lock(mu);
  const BumpOnExit bump(*this);  // destroyed before `lock`: the bump precedes the unlock
  heard_from[envelope.header.sender] = SteadyClock::now();
  if (m->plan_digest == plan_digest) foreign_plan_from.erase(envelope.header.sender);
  if (m->plan_digest != plan_digest) {
    ++shared_stats.progress_conflicts;
    foreign_plan_from.insert_or_assign(envelope.header.sender, envelope.header.incarnation);
    consumer_cv.notify_all();
    WarnConflictOnceLocked(m->epoch,
                           fmt::format("progress from {} belongs to another plan (dataset, "
                                       "seed, partitions, window or strategy differ): ignored",
                                       envelope.header.sender));
    return;
  }
  if (!started || m->epoch >= table.epoch()) {
    const bool first =
        epoch_senders[m->epoch].insert_or_assign(envelope.header.sender, m->members).second;
    if (first) consumer_cv.notify_all();  // WaitForPeersToStart
    while (epoch_senders.size() > 4) epoch_senders.erase(epoch_senders.begin());
  }
  if (started && m->epoch == table.epoch()) {
    if (m->members != table.members()) {
      ++shared_stats.progress_conflicts;
      if (StartedWithoutUsLocked(m->members)) {
        AddRejoinCandidateLocked(std::move(*m));
        return;
      }
      WarnConflictOnceLocked(
          m->epoch,
          fmt::format("progress from {} for epoch {} names the members ({}), this worker's "
                      "table ({}): ignored. (A worker that started the epoch before hearing "
                      "from the mesh, its settle shorter than progress_interval, re-joins as a "
                      "guest once this worker's progress reaches it.)",
                      envelope.header.sender, m->epoch, fmt::join(m->members, ","),
                      fmt::join(table.members(), ",")));
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
  if (started && m->epoch < table.epoch()) {
    // A straggler (frozen, or restarted from a checkpoint) still in the previous epoch: send
    // it that epoch's final table at once, so it learns which of its partitions others
    // finished instead of delivering them again until the next periodic broadcast.
    if (previous && previous->epoch() == m->epoch && !previous_pending) {
      previous_pending = true;
      dirty = true;
      urgent = true;
      control_cv.notify_all();
    }
    return;
  }
  if (!started || m->epoch > table.epoch()) StashLocked(std::move(*m));
}

void MeshLoader::Impl::StashLocked(ProgressMessage m) {
  auto [it, fresh] = stash.try_emplace(m.epoch, m);
  if (!fresh && it->second.members == m.members) MergeProgress(it->second, m);
  while (stash.size() > 4) stash.erase(stash.begin());
}

void MeshLoader::Impl::MergeProgress(ProgressMessage& into, const ProgressMessage& m) {
  auto& cur = into.entries;
  for (const auto& e : m.entries) {
    if (e.partition < cur.size() &&
        (e.term > cur[e.partition].term ||
         (e.term == cur[e.partition].term && e.cursor > cur[e.partition].cursor))) {
      cur[e.partition] = e;
    }
  }
  auto& known = into.handovers;
  for (const auto& h : m.handovers) {
    if (known.size() < 4 * cur.size() && std::find(known.begin(), known.end(), h) == known.end())
      known.push_back(h);
  }
}

void MeshLoader::Impl::Broadcast(const std::vector<ProgressMessage>& messages) {
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

checkpoint::StreamState MeshLoader::Impl::StateLocked() const {
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
    st.position += cursor;
    st.sequence_length += table.size(e.partition);
  }
  return st;
}

bool MeshLoader::Impl::EpochOverLocked() const {
  if (!table.AllDone()) return false;
  for (const auto& m : table.members()) {
    if (m == node->name() || !live.count(m) || dead.count(m)) continue;
    if (!done_reporters.count(m)) return false;
  }
  return true;
}

void MeshLoader::Impl::ControlLoop() {
  auto next_broadcast = SteadyClock::now();
  auto next_persist = SteadyClock::now();
  auto next_commit_broadcast = SteadyClock::now();  // commits coalesce until then
  // The previous epoch's table goes out on its own clock: commit broadcasts push
  // next_broadcast on and on, and with it a straggler's news went out only at the end.
  auto next_previous = SteadyClock::now();
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
    for (const auto& m : members) {
      if (mesh::IsLive(m.state)) live.insert(m.name);
      // A member that left, died or restarted is no longer known to run another plan.
      const auto foreign = foreign_plan_from.find(m.name);
      if (foreign != foreign_plan_from.end() &&
          (!mesh::IsLive(m.state) || m.incarnation != foreign->second)) {
        foreign_plan_from.erase(foreign);
      }
    }
    for (const auto& m : members) {
      if (!mesh::IsLive(m.state) && m.name != node->name() &&
          (std::binary_search(table.members().begin(), table.members().end(), m.name) ||
           table.IsGuest(m.name)) &&
          dead.insert(m.name).second) {
        spdlog::info(
            "epoch {}: {} {}; its unfinished partitions, if any, move to their next owners",
            table.epoch(), m.name,
            m.state == mesh::MemberState::kLeft ? "left the mesh" : "is dead");
      }
    }
    // A member seen dead while this worker lacked a quorum and live again before it had one
    // keeps its partitions (see revived_members.h).
    for (const std::string& name : internal::ForgetRevived(dead, dead_acted_on, live)) {
      spdlog::info("epoch {}: {} is alive again; it keeps its partitions", table.epoch(), name);
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
    MaybeRejoinLocked();  // a member that died may have been all a candidate set waited for
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
      const bool recent = m.name == node->name() || (heard != heard_from.end() &&
                                                     tick - heard->second <= options.quorum_window);
      alive_members += recent && m.state == mesh::MemberState::kAlive && !dead.count(m.name) &&
                       std::binary_search(table.members().begin(), table.members().end(), m.name);
    }
    const bool quorum = 2 * alive_members >= table.members().size();
    quorum_seen = quorum;
    if (!evicted && quorum) dead_acted_on.insert(dead.begin(), dead.end());
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
    const bool previous_due = previous.has_value() && now >= next_previous;
    if ((dirty && (now >= next_commit_broadcast || urgent)) || periodic || previous_due) {
      urgent = false;
      next_broadcast = now + options.progress_interval;
      next_commit_broadcast = now + options.commit_broadcast_gap;
      // The previous epoch's table no longer changes: it goes out once per progress_interval
      // (for peers still finishing it), not with every coalesced commit.
      if (previous_due) next_previous = now + options.progress_interval;
      SendProgress(lock, /*with_previous=*/previous_due);
    }
  }
  // Commits still waiting for their gap leave with the loader (a clean stop replays nothing).
  ApplyCommitsLocked();
  if (started && dirty) SendProgress(lock, /*with_previous=*/true);
}

void MeshLoader::Impl::ApplyCommitsLocked() {
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

void MeshLoader::Impl::SendProgress(std::unique_lock<std::mutex>& lock, bool with_previous) {
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

}  // namespace shardmesh::loader
