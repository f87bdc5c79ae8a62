#include "shardmesh/loader/mesh_loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <utility>

#include "mesh_loader_impl.h"
#include "shardmesh/common/fork_generation.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/common/thread_name.h"
#include "shardmesh/loader/partition_plan.h"

namespace shardmesh::loader {

// ---------------------------------------------------------------- epoch start
Result<std::vector<std::string>> MeshLoader::Impl::WaitForSettledMembers() {
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
    if (options.cancel && options.cancel->load()) {
      return Status::Aborted("mesh loader: stopped while waiting for the membership to settle");
    }
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

Status MeshLoader::Impl::StartEpoch(std::uint64_t epoch) {
  {
    // This worker still reads partitions of the running epoch. Moving on would lose their
    // rest (no peer takes over a live member's partitions) and keep every peer waiting for
    // the epoch's end until epoch_end_timeout; starting it again would re-plan it mid-way.
    std::lock_guard lock(mu);
    if (started && !active.empty()) {
      SHARDMESH_RETURN_IF_ERROR(ForeignPlanLocked());  // the real cause, if there is one
      if (epoch == table.epoch()) return Status::OK();  // already running: continue it
      return Status::FailedPrecondition(fmt::format(
          "epoch {} is not finished here ({} partitions of this worker still being read): "
          "read it to its end before starting epoch {}, or leave() the mesh so that the "
          "others take them over",
          table.epoch(), active.size(), epoch));
    }
  }
  SHARDMESH_RETURN_IF_ERROR(InstallEpoch(epoch));
  WaitForPeersToStart();
  {
    std::lock_guard lock(mu);
    SHARDMESH_RETURN_IF_ERROR(ForeignPlanLocked());
  }
  bool rejoin = false;
  {
    std::lock_guard lock(mu);
    rejoin = rejoin_pending;
  }
  if (rejoin) {
    SHARDMESH_RETURN_IF_ERROR(Rejoin());
    WaitForPeersToStart();
  }
  return Status::OK();
}

void MeshLoader::Impl::WaitForPeersToStart() {
  const auto deadline = SteadyClock::now() + options.settle;
  std::unique_lock lock(mu);
  for (;;) {
    std::vector<std::string> waiting;
    const auto& heard = epoch_senders[table.epoch()];
    for (const auto& m : table.members()) {
      if (m != node->name() && live.count(m) && !dead.count(m) && !heard.count(m))
        waiting.push_back(m);
    }
    if (waiting.empty() || stop || rejoin_pending) return;
    if (options.cancel && options.cancel->load()) return;
    if (SteadyClock::now() >= deadline) {
      spdlog::info("epoch {}: starting without word from {} (they have not started it yet)",
                   table.epoch(), fmt::join(waiting, ","));
      return;
    }
    consumer_cv.wait_until(lock,
                           std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(20)));
  }
}

Status MeshLoader::Impl::InstallEpoch(std::uint64_t epoch) {
  SHARDMESH_ASSIGN_OR_RETURN(std::vector<std::string> members, WaitForSettledMembers());
  std::optional<ProgressMessage> known;
  {
    std::lock_guard lock(mu);
    // The mesh is already in this epoch (a restart or a late joiner): use its member set.
    if (auto it = stash.find(epoch); it != stash.end()) known = it->second;
  }
  if (known) members = known->members;
  return InstallTable(epoch, std::move(members), /*rejoin=*/false);
}

Status MeshLoader::Impl::InstallTable(std::uint64_t epoch, std::vector<std::string> members,
                                      bool rejoin) {
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
  if (started && !rejoin) {
    ApplyCommitsLocked();
    previous = std::move(table);
    previous_pending = true;
  }
  rejoin_pending = false;
  rejoin_candidates.clear();
  samples_at_install = samples.load(std::memory_order_relaxed);
  waiting_since = {};
  since_commit = 0;
  table = std::move(fresh);
  committed = std::vector<std::atomic<std::uint64_t>>(table.partitions());
  applied_seq = commit_seq.load();
  owners_checked = kNeverChecked;
  // Progress that arrived while the table was being built, naming another member set.
  std::optional<ProgressMessage> other_set;
  if (auto it = stash.find(epoch); it != stash.end()) {
    if (it->second.members == table.members()) {
      for (const auto& h : it->second.handovers) table.MergeHandover(h);
      for (const auto& e : it->second.entries) table.Merge(e);
    } else {
      other_set = std::move(it->second);
    }
  }
  stash.erase(stash.begin(), stash.upper_bound(epoch));
  epoch_senders.erase(epoch_senders.begin(), epoch_senders.lower_bound(epoch));
  dead.clear();
  dead_acted_on.clear();
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
  if (other_set && StartedWithoutUsLocked(other_set->members))
    AddRejoinCandidateLocked(std::move(*other_set));
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

MeshEpochInputs MeshLoader::Impl::EpochInputs(std::uint64_t epoch) const {
  MeshEpochInputs in;
  in.strategy = options.strategy;
  in.replication = options.replication;
  in.ring = options.ring;
  in.seed = options.seed;
  in.epoch = epoch;
  in.eps = options.load_eps;
  return in;
}

void MeshLoader::Impl::Activate(std::uint32_t p) {
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

std::uint64_t MeshPlanDigest(const DatasetCatalog& catalog, const MeshLoaderOptions& o) {
  return HashCombine(
      HashCombine(HashCombine(Hash64(catalog.id()), o.seed),
                  (static_cast<std::uint64_t>(o.partitions) << 32) | o.shuffle_window_blocks),
      static_cast<std::uint64_t>(o.strategy));
}

MeshLoader::MeshLoader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {
Status ForkedError() {
  return Status::FailedPrecondition(
      "mesh loader used in a process forked from the one that created it: its threads (and "
      "its node's) do not survive fork(); create it after the fork");
}
}  // namespace

MeshLoader::~MeshLoader() {
  // In a forked child its threads do not exist: joining them is undefined, so the child
  // leaks its copy.
  if (impl_->Forked()) {
    (void)impl_.release();
    return;
  }
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

Status ValidateMeshLoaderOptions(const MeshLoaderOptions& options) {
  if (options.partitions == 0 || options.partitions > kMaxPartitions) {
    return Status::InvalidArgument("mesh loader: partitions must be in 1.." +
                                   std::to_string(kMaxPartitions) + ", got " +
                                   std::to_string(options.partitions));
  }
  // windows_ahead counts windows started per owned partition: 2^32-1 wrapped the loop over
  // them and Next() never returned.
  if (options.windows_ahead > kMaxWindowsAhead) {
    return Status::InvalidArgument("mesh loader: windows_ahead must be at most " +
                                   std::to_string(kMaxWindowsAhead) + ", got " +
                                   std::to_string(options.windows_ahead));
  }
  if (!(options.load_eps >= 0) || !std::isfinite(options.load_eps)) {
    return Status::InvalidArgument("mesh loader: load_eps must be a finite number >= 0");
  }
  for (const auto& [name, d] : {std::pair{"settle", options.settle},
                                {"start_timeout", options.start_timeout},
                                {"progress_interval", options.progress_interval},
                                {"quorum_window", options.quorum_window},
                                {"takeover_grace", options.takeover_grace},
                                {"stall_threshold", options.stall_threshold},
                                {"commit_broadcast_gap", options.commit_broadcast_gap},
                                {"fetch_try_timeout", options.fetch_try_timeout},
                                {"read_deadline", options.read_deadline},
                                {"epoch_end_timeout", options.epoch_end_timeout},
                                {"persist_interval", options.persist_interval}}) {
    if (d.count() < 0) {
      return Status::InvalidArgument(std::string("mesh loader: ") + name + " must not be negative");
    }
  }
  if (options.shuffle_window_blocks == 0) {
    return Status::InvalidArgument("mesh loader: shuffle_window_blocks must be > 0");
  }
  if (options.replication == 0)
    return Status::InvalidArgument("mesh loader: replication must be >= 1");
  if (options.min_members == 0)
    return Status::InvalidArgument("mesh loader: min_members must be >= 1");
  return Status::OK();
}

Result<std::unique_ptr<MeshLoader>> MeshLoader::Create(MeshLoaderOptions options,
                                                       mesh::MeshNode& node,
                                                       mesh::BlockExchange& exchange,
                                                       ShardStore& store) {
  SHARDMESH_RETURN_IF_ERROR(ValidateMeshLoaderOptions(options));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->node = &node;
  impl->exchange = &exchange;
  impl->store = &store;
  impl->catalog = store.shared_catalog();
  const auto& o = impl->options;
  impl->plan_digest = MeshPlanDigest(*impl->catalog, o);
  if (o.restore && o.restore->plan_digest != impl->plan_digest) {
    return Status::FailedPrecondition(
        "mesh loader: the checkpoint to restore belongs to another plan (dataset, seed, "
        "partitions, window or strategy differ)");
  }
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

Status MeshLoader::StartEpoch(std::uint64_t epoch) {
  if (impl_->Forked()) return ForkedError();
  return impl_->StartEpoch(epoch);
}
Result<std::optional<Sample>> MeshLoader::Next() {
  if (impl_->Forked()) return ForkedError();
  return impl_->Next();
}
void MeshLoader::Commit() {
  // In a forked child no thread would send it, and the lock may be held for ever: nothing.
  if (impl_->Forked()) return;
  impl_->Commit();
}
void MeshLoader::SetBeforeCommit(std::function<void()> hook) {
  impl_->before_commit = std::move(hook);
}

checkpoint::StreamState MeshLoader::GetCheckpoint() const {
  if (impl_->Forked()) return {};  // see Commit
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
