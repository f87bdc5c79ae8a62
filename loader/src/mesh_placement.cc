#include "shardmesh/loader/mesh_placement.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "shardmesh/common/hash.h"
#include "shardmesh/common/thread_name.h"

namespace shardmesh::loader {

std::uint64_t ShardRingKey(std::string_view catalog_id, std::uint32_t shard) {
  return HashU64(shard, Hash64(catalog_id));
}

std::vector<std::string> ShardHolderEndpoints(const mesh::HashRing& ring,
                                              const std::vector<mesh::MemberInfo>& members,
                                              std::string_view catalog_id, std::uint32_t shard,
                                              std::uint32_t replication, std::string_view self) {
  std::vector<std::string> out;
  auto endpoint_of = [&](std::string_view name) -> const mesh::MemberInfo* {
    for (const auto& m : members)
      if (m.name == name) return &m;
    return nullptr;
  };
  std::vector<std::string> owners = ring.Owners(ShardRingKey(catalog_id, shard), replication);
  for (const auto& name : owners) {
    if (name == self) continue;
    if (const auto* m = endpoint_of(name); m && mesh::IsLive(m->state)) out.push_back(m->endpoint);
  }
  for (const auto& m : members) {
    if (m.name == self || !mesh::IsLive(m.state)) continue;
    if (std::find(owners.begin(), owners.end(), m.name) != owners.end()) continue;
    out.push_back(m.endpoint);
  }
  return out;
}

Result<std::shared_ptr<const DatasetCatalog>> FetchCatalogFromPeers(
    mesh::MeshNode& node, mesh::BlockExchange& exchange, Duration timeout,
    const std::atomic<bool>* cancel) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  auto next_warning = start + std::chrono::seconds(10);
  std::string last_error = "no live peer yet";
  std::size_t peers_asked = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cancel && cancel->load()) return Status::Aborted("stopped while fetching the catalog");
    std::vector<std::string> peers;
    for (const auto& m : node.Members())
      if (m.name != node.name() && mesh::IsLive(m.state)) peers.push_back(m.endpoint);
    peers_asked = peers.size();
    if (const auto now = std::chrono::steady_clock::now(); now >= next_warning) {
      spdlog::warn("still no dataset catalog after {} s ({} live peers; last: {})",
                   std::chrono::duration_cast<std::chrono::seconds>(now - start).count(),
                   peers_asked, last_error);
      next_warning = now + std::chrono::seconds(10);
    }
    if (!peers.empty()) {
      mesh::FetchOptions fo;
      fo.per_try_timeout = std::chrono::milliseconds(2000);
      auto got = exchange.Fetch(ShardStore::CatalogBlobName(), peers, fo).get();
      if (got.ok()) {
        auto catalog = DatasetCatalog::Decode(got->view(), "catalog from a peer");
        if (catalog.ok()) return catalog;
        last_error = catalog.status().message();
      } else {
        last_error = got.status().message();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return Status::Unavailable(
      "no peer served the dataset catalog within " +
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
      " ms (" + std::to_string(peers_asked) +
      " live peers; is a worker with `dataset` running?): " + last_error);
}

struct Placement::Impl {
  PlacementOptions options;
  mesh::MeshNode* node = nullptr;
  mesh::BlockExchange* exchange = nullptr;
  ShardStore* store = nullptr;

  mutable std::mutex mu;
  std::condition_variable cv;
  bool stop = false;                                         // guarded by mu
  bool woken = false;                                        // guarded by mu
  PlacementStatus status;                                    // guarded by mu
  std::map<std::uint32_t, std::uint32_t> failures_in_a_row;  // by shard; guarded by mu
  std::vector<std::string> view_;  // placement thread: live members, sorted
  std::chrono::steady_clock::time_point view_since_{};
  std::chrono::steady_clock::time_point acted_{};  // last round that acted (or the first)
  std::thread thread;

  void Run() {
    std::unique_lock lock(mu);
    while (!stop) {
      lock.unlock();
      Round();
      lock.lock();
      cv.wait_for(lock, options.interval, [&] { return stop || woken; });
      woken = false;
    }
  }

  bool Stopping() {
    std::lock_guard lock(mu);
    return stop;
  }

  void Round() {
    const DatasetCatalog& catalog = store->catalog();
    const std::vector<mesh::MemberInfo> members = node->Members();
    std::vector<std::string> live = node->LiveMembers();
    std::sort(live.begin(), live.end());
    const auto now = std::chrono::steady_clock::now();
    if (live != view_) {
      view_ = live;
      view_since_ = now;
    }
    // Under churn (a flapping member, a slow rolling start) the view may never stay still for
    // `settle`: after ten times that (at least 10 s) without acting, act on the view as it is.
    if (acted_ == std::chrono::steady_clock::time_point{}) acted_ = now;
    const auto patience = std::max<Duration>(10 * options.settle, std::chrono::seconds(10));
    const bool settled = now - view_since_ >= options.settle || now - acted_ >= patience;
    if (settled) acted_ = now;
    const auto ring = mesh::HashRing::Build(live, options.ring);
    const std::string& self = node->name();
    std::vector<std::uint32_t> missing;
    std::uint32_t owned = 0;
    for (std::uint32_t s = 0; s < catalog.num_shards(); ++s) {
      const auto owners = ring.Owners(ShardRingKey(catalog.id(), s), options.replication);
      const bool mine = std::find(owners.begin(), owners.end(), self) != owners.end();
      owned += mine;
      if (mine && !store->Has(s)) missing.push_back(s);
      if (!mine && settled && options.drop_unowned && store->Has(s)) {
        if (Status d = store->Drop(s); !d.ok()) spdlog::warn("placement: {}", d.message());
      }
    }
    Publish(owned, static_cast<std::uint32_t>(missing.size()));
    if (!settled) return;  // the view is still moving: a later round acts on the settled one
    for (std::uint32_t s : missing) {
      if (Stopping()) return;
      const std::string& file = catalog.manifest().shards[s].file;
      Status st = store->has_source() ? store->InstallFromSource(s)
                                      : Pull(s, ShardHolderEndpoints(ring, members, catalog.id(), s,
                                                                     options.replication, self));
      std::lock_guard lock(mu);
      if (st.ok()) {
        failures_in_a_row.erase(s);
        ++status.shards_pulled;
        if (status.owned_missing > 0) --status.owned_missing;
        spdlog::info("placement: installed {} ({} bytes, verified)", file,
                     catalog.manifest().shards[s].bytes);
      } else {
        ++status.pull_failures;
        // Retried every pass (a few per second): the first failure of a shard and then every
        // 40th, so a shard that cannot be had does not flood the log.
        const std::uint32_t tries = ++failures_in_a_row[s];
        if (tries == 1 || tries % 40 == 0) {
          spdlog::warn("placement: {} not installed yet ({} tries): {}", file, tries, st.message());
        }
      }
    }
  }

  void Publish(std::uint32_t owned, std::uint32_t missing) {
    std::lock_guard lock(mu);
    status.shards_total = store->catalog().num_shards();
    status.shards_owned = owned;
    status.owned_missing = missing;
  }

  Status Pull(std::uint32_t shard, std::vector<std::string> holders) {
    if (holders.empty()) return Status::Unavailable("no live peer to pull from");
    const DatasetCatalog& catalog = store->catalog();
    const std::uint64_t bytes = catalog.manifest().shards[shard].bytes;
    const std::uint64_t chunks = (bytes + ShardStore::kChunkBytes - 1) / ShardStore::kChunkBytes;
    const std::string part = store->PartPath(shard);
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      return Status::IOError(fmt::format("cannot create {}: {}", part, std::strerror(errno)));
    Status status_out;
    std::uint64_t pulled = 0;
    for (std::uint64_t first = 0; first < chunks && status_out.ok();
         first += options.parallel_chunks) {
      if (Stopping()) {
        status_out = Status::Aborted("placement stopping");
        break;
      }
      std::vector<mesh::BlockExchange::FetchRequest> requests;
      for (std::uint64_t c = first;
           c < std::min<std::uint64_t>(chunks, first + options.parallel_chunks); ++c) {
        requests.push_back({ShardStore::ChunkBlobName(catalog.id(), shard, c), holders});
      }
      mesh::FetchOptions fo;
      fo.per_try_timeout = std::chrono::milliseconds(2000);
      auto futures = exchange->FetchMany(std::move(requests), fo);
      for (std::size_t i = 0; i < futures.size(); ++i) {
        auto got = futures[i].get();
        if (!status_out.ok()) continue;
        if (!got.ok()) {
          status_out = got.status();
          continue;
        }
        const std::uint64_t offset = (first + i) * ShardStore::kChunkBytes;
        for (std::size_t done = 0; done < got->size();) {
          const ssize_t w = ::pwrite(fd, got->data() + done, got->size() - done,
                                     static_cast<off_t>(offset + done));
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) {
            status_out =
                Status::IOError(fmt::format("cannot write {}: {}", part, std::strerror(errno)));
            break;
          }
          done += static_cast<std::size_t>(w);
        }
        pulled += got->size();
      }
    }
    if (status_out.ok() && ::fsync(fd) != 0) {
      status_out = Status::IOError(fmt::format("cannot fsync {}: {}", part, std::strerror(errno)));
    }
    ::close(fd);
    if (status_out.ok()) status_out = store->InstallPulled(shard);
    if (!status_out.ok()) {
      std::error_code ec;
      std::filesystem::remove(part, ec);
      return status_out;
    }
    std::lock_guard lock(mu);
    status.bytes_pulled += pulled;
    return Status::OK();
  }
};

Placement::Placement(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Placement>> Placement::Start(PlacementOptions options, mesh::MeshNode& node,
                                                    mesh::BlockExchange& exchange,
                                                    ShardStore& store) {
  if (options.replication == 0)
    return Status::InvalidArgument("placement: replication must be >= 1");
  if (options.parallel_chunks == 0) {
    return Status::InvalidArgument("placement: parallel_chunks must be >= 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->node = &node;
  impl->exchange = &exchange;
  impl->store = &store;
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    SetCurrentThreadName("sm-placement");
    raw->Run();
  });
  return std::unique_ptr<Placement>(new Placement(std::move(impl)));
}

Placement::~Placement() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
}

void Placement::Wake() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->woken = true;
  }
  impl_->cv.notify_all();
}

std::uint32_t Placement::MissingOwned() const {
  const Impl& m = *impl_;
  const auto ring = mesh::HashRing::Build(m.node->LiveMembers(), m.options.ring);
  const DatasetCatalog& catalog = m.store->catalog();
  std::uint32_t missing = 0;
  for (std::uint32_t s = 0; s < catalog.num_shards(); ++s) {
    const auto owners = ring.Owners(ShardRingKey(catalog.id(), s), m.options.replication);
    if (std::find(owners.begin(), owners.end(), m.node->name()) != owners.end() &&
        !m.store->Has(s)) {
      ++missing;
    }
  }
  return missing;
}

PlacementStatus Placement::status() const {
  std::lock_guard lock(impl_->mu);
  PlacementStatus s = impl_->status;
  s.shards_held = static_cast<std::uint32_t>(impl_->store->HeldShards().size());
  s.bytes_stored = impl_->store->bytes_stored();
  return s;
}

}  // namespace shardmesh::loader
