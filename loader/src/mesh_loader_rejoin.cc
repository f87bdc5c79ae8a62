// MeshLoader::Impl, re-joining an epoch as a guest: a worker that fixed its own member set for
// an epoch the mesh had started without it (see rejoin_pending in mesh_loader_impl.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "mesh_loader_impl.h"

namespace shardmesh::loader {

bool MeshLoader::Impl::StartedWithoutUsLocked(const std::vector<std::string>& theirs) const {
  const auto& ours = table.members();
  const std::string& self = node->name();
  return !theirs.empty() && theirs.size() < ours.size() &&
         std::is_sorted(theirs.begin(), theirs.end()) &&
         std::binary_search(ours.begin(), ours.end(), self) &&
         !std::binary_search(theirs.begin(), theirs.end(), self) &&
         std::includes(ours.begin(), ours.end(), theirs.begin(), theirs.end());
}

void MeshLoader::Impl::AddRejoinCandidateLocked(ProgressMessage m) {
  if (rejoin_pending) {
    // A set is confirmed already: newer progress of it goes to the stash Rejoin reads.
    if (auto it = stash.find(m.epoch); it != stash.end() && it->second.members == m.members)
      MergeProgress(it->second, m);
    return;
  }
  auto [it, fresh] = rejoin_candidates.try_emplace(m.members, m);
  if (!fresh) MergeProgress(it->second, m);
  while (rejoin_candidates.size() > 4) rejoin_candidates.erase(rejoin_candidates.begin());
  MaybeRejoinLocked();
}

void MeshLoader::Impl::MaybeRejoinLocked() {
  if (rejoin_pending || !started || rejoin_candidates.empty()) return;
  const auto heard = epoch_senders.find(table.epoch());
  if (heard == epoch_senders.end()) return;
  for (auto& [set, message] : rejoin_candidates) {
    // Every live member of the set named it in its latest progress of this epoch.
    bool confirmed = true;
    for (const auto& m : set) {
      if (!live.count(m) || dead.count(m)) continue;
      const auto it = heard->second.find(m);
      if (it == heard->second.end() || it->second != set) {
        confirmed = false;
        break;
      }
    }
    if (!confirmed) continue;
    stash[table.epoch()] = std::move(message);
    rejoin_candidates.clear();
    rejoin_pending = true;
    consumer_cv.notify_all();  // WaitForPeersToStart; Next() sees the bump
    return;
  }
}

Status MeshLoader::Impl::Rejoin() {
  std::uint64_t epoch = 0;
  std::vector<std::string> ours, members;
  {
    std::lock_guard lock(mu);
    rejoin_pending = false;
    epoch = table.epoch();
    const auto it = stash.find(epoch);
    if (!started || it == stash.end()) return Status::OK();
    ours = table.members();
    members = it->second.members;
    ++shared_stats.epochs_rejoined;
  }
  const std::uint64_t delivered = samples.load(std::memory_order_relaxed) - samples_at_install;
  spdlog::warn(
      "epoch {}: the mesh started this epoch with members ({}) before this worker was one of "
      "them, while this worker, having heard no progress of it within settle, fixed its own "
      "({}): re-joining as a guest. {} samples it delivered meanwhile will be delivered again "
      "by their owners (a settle longer than a few progress intervals avoids this)",
      epoch, fmt::join(members, ","), fmt::join(ours, ","), delivered);
  return InstallTable(epoch, std::move(members), /*rejoin=*/true);
}

}  // namespace shardmesh::loader
