// MeshLoader::Impl, consumer side: what Next() and Commit() do on the consumer's thread.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <map>

#include "mesh_loader_impl.h"

namespace shardmesh::loader {

void MeshLoader::Impl::SyncLocked() {
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
  // Partitions an owner handed over to this worker (it joined mid-epoch): they resume at the
  // owner's commit, so there is no late commit to wait for. An explicit grant at an exact
  // cursor: taken even by a worker that was evicted from other partitions.
  std::vector<std::string> received;  // "partition@cursor/size", logged on one line
  for (std::uint32_t p : table.OwnedBy(node->name())) {
    if (!table.HandedOver(p) || IsActive(p)) continue;
    received.push_back(fmt::format("{}@{}/{}", p, table.entry(p).cursor, table.size(p)));
    ++shared_stats.partitions_received;
    Activate(p);
  }
  if (!received.empty()) {
    spdlog::info("epoch {}: {} partitions handed over to this worker (partition@sample/size): {}",
                 table.epoch(), received.size(), fmt::join(received, ", "));
  }
  // One line per kind of loss, not one per partition (a worker declared dead loses about P/N).
  std::vector<std::string> handed, taken;
  for (std::size_t i = 0; i < active.size();) {
    const std::uint32_t p = active[i].partition;
    if (table.Owner(p) != node->name()) {
      const std::string item = fmt::format("{} (to {})", p, table.Owner(p));
      if (table.HandedOver(p)) {
        // A previous owner handed it to a newcomer under a higher term (it had not heard of
        // this worker's takeover): a stop, not a sign that this worker was declared dead.
        handed.push_back(item);
      } else {
        taken.push_back(item);
        Bump(lost);
        evicted = true;  // declared dead once: take nothing more this epoch
      }
      EraseActive(i);
    } else {
      ++i;
    }
  }
  if (!handed.empty()) {
    spdlog::warn("epoch {}: stopping {} partitions handed over to others: {}", table.epoch(),
                 handed.size(), fmt::join(handed, ", "));
  }
  if (!taken.empty()) {
    spdlog::warn(
        "epoch {}: this worker was declared dead; stopping {} partitions now owned by others: {}",
        table.epoch(), taken.size(), fmt::join(taken, ", "));
  }
}

void MeshLoader::Impl::PlanHandoversLocked() {
  guests_planned = guests_version;
  handovers_planned = 0;
  for (auto& a : active) a.handover_to.clear();
  if (guests.empty() || evicted || active.empty()) return;
  std::vector<std::string> now;
  for (const auto& m : table.members())
    if (live.count(m) && !dead.count(m)) now.push_back(m);
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

bool MeshLoader::Impl::HandOverLocked() {
  // Only a worker sure of its ownership hands over: a handover term outranks any takeover, so
  // one made by a worker that peers may have declared dead meanwhile (it was frozen, or is
  // cut off without a quorum) would override their takeover. Such a worker keeps the plan
  // and tries again at a later commit.
  const auto now = SteadyClock::now();
  if (!quorum_seen || now < resync_until || SinceLastTick(ToNanos(now)) > StallThresholdNanos()) {
    return false;
  }
  std::map<std::string, std::vector<std::string>> handed;  // guest -> "partition@sample/size"
  for (std::size_t i = 0; i < active.size();) {
    ActivePartition& a = active[i];
    if (a.handover_to.empty()) {
      ++i;
      continue;
    }
    if (table.Owner(a.partition) != node->name() ||
        !std::binary_search(guests.begin(), guests.end(), a.handover_to) ||
        !table.HandOver(a.partition, a.handover_to)) {
      a.handover_to.clear();
      --handovers_planned;
      ++i;
      continue;
    }
    handed[a.handover_to].push_back(
        fmt::format("{}@{}/{}", a.partition, a.delivered, table.size(a.partition)));
    ++shared_stats.partitions_handed_over;
    EraseActive(i);
  }
  for (const auto& [guest, list] : handed) {
    spdlog::info("epoch {}: {} partitions handed over to {} (partition@sample/size): {}",
                 table.epoch(), list.size(), guest, fmt::join(list, ", "));
  }
  return !handed.empty();
}

void MeshLoader::Impl::StartWindow(ActivePartition& a, std::uint32_t w) {
  if (w >= a.window_end.size() || a.ahead.count(w)) return;
  const auto blocks = order.PartitionBlocks(a.partition);
  const std::uint32_t per = options.shuffle_window_blocks;
  auto& reads = a.ahead[w];
  for (std::size_t i = static_cast<std::size_t>(w) * per; i < blocks.size() && i < (w + 1ull) * per;
       ++i) {
    reads.push_back(reader->Start(blocks[i]));
  }
}

Status MeshLoader::Impl::LoadWindow(ActivePartition& a, std::uint32_t w) {
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
  for (std::uint32_t ahead = 1; ahead <= options.windows_ahead; ++ahead) StartWindow(a, w + ahead);
  return Status::OK();
}

Result<std::optional<Sample>> MeshLoader::Impl::Next() {
  for (;;) {
    if (NeedsLockedCheck()) {
      std::unique_lock lock(mu);
      unchecked = 0;
      // Every bump happens with mu held, so this value covers all that is visible now; a
      // pass that waits or loops instead of delivering checks again next time.
      changes_seen = kForceCheck;
      if (!started) return Status::FailedPrecondition("mesh loader: StartEpoch was not called");
      SHARDMESH_RETURN_IF_ERROR(ForeignPlanLocked());
      // A control loop that has not ticked for a while means this process was frozen:
      // wait for it to notice (and to pause delivery) before handing out more.
      const auto now = SteadyClock::now();
      if (SinceLastTick(ToNanos(now)) > StallThresholdNanos() || now < resync_until) {
        consumer_cv.wait_for(lock, std::chrono::milliseconds(20));
        continue;
      }
      if (rejoin_pending) {
        lock.unlock();
        SHARDMESH_RETURN_IF_ERROR(Rejoin());
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
        if (options.cancel && options.cancel->load()) {
          return Status::Aborted("mesh loader: stopped while waiting for the epoch to end");
        }
        const auto now = SteadyClock::now();
        if (waiting_since == SteadyClock::time_point{}) waiting_since = now;
        if (options.epoch_end_timeout > Duration::zero() &&
            now - waiting_since >= options.epoch_end_timeout) {
          std::vector<std::string> open;
          for (std::uint32_t p = 0; p < table.partitions() && open.size() < 8; ++p)
            if (!table.done(p)) open.push_back(fmt::format("{} ({})", p, table.Owner(p)));
          return Status::DeadlineExceeded(fmt::format(
              "epoch {} not finished after {} s; unfinished partitions (owner): {}", table.epoch(),
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
      EraseActive(rr);  // the next partition moves into position rr
    } else {
      ++rr;
    }
    if (options.commit_every > 0 && since_commit >= options.commit_every) Commit();
    return std::optional<Sample>(std::move(out));
  }
}

void MeshLoader::Impl::Commit() {
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
  const bool handed = handovers_planned > 0 && HandOverLocked();  // also when one finished
  const bool ends_partition = !finished.empty() || handed;
  finished.clear();
  // Only a commit that finds the control thread idle past the gap wakes it; the others ride
  // with the next broadcast (see commit_broadcast_gap and control_idle).
  const bool wake = (!dirty && control_idle.load()) || (ends_partition && !urgent);
  urgent |= ends_partition;
  dirty = true;
  persist_pending = true;
  if (wake) control_cv.notify_all();
}

}  // namespace shardmesh::loader
