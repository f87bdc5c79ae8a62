#include "worker_data.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/file.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"

namespace shardmesh::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A catalog a previous run of this worker stored under data_dir/<id>/catalog.bin.
Result<std::shared_ptr<const loader::DatasetCatalog>> CatalogFromDataDir(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string() + "/catalog.bin";
    if (!std::filesystem::exists(path, ec)) continue;
    SHARDMESH_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    return loader::DatasetCatalog::Decode(AsBytes(bytes), path);
  }
  return Status::NotFound("no catalog in " + dir);
}

// Appends delivered ids to a file; flushed (write(2) to the kernel, which survives kill -9)
// before every commit and at least once a second.
class IdsWriter {
 public:
  Status Open(const std::string& path) {
    if (path.empty()) return Status::OK();
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) return Status::IOError("cannot open ids_out " + path);
    return Status::OK();
  }
  ~IdsWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  void Add(std::uint64_t id) {
    if (file_ == nullptr) return;
    buffer_ += std::to_string(id);
    buffer_ += '\n';
  }
  void Flush() {
    if (file_ == nullptr || buffer_.empty()) return;
    std::fwrite(buffer_.data(), 1, buffer_.size(), file_);
    std::fflush(file_);
    buffer_.clear();
    last_flush_ = SteadyClock::now();
  }
  bool Due() const { return SteadyClock::now() - last_flush_ >= std::chrono::seconds(1); }

 private:
  std::FILE* file_ = nullptr;
  std::string buffer_;
  SteadyClock::time_point last_flush_ = SteadyClock::now();
};

}  // namespace

std::map<std::string, std::string> StatusInfo(const DataWorker& w) {
  std::map<std::string, std::string> info;
  if (!w.store || !w.placement) return info;
  const auto p = w.placement->status();
  info["dataset"] = w.store->catalog().id();
  info["disk_bytes"] = std::to_string(p.bytes_stored);
  info["shards_held"] = fmt::format("{}/{}", p.shards_held, p.shards_total);
  info["shards_owned"] = std::to_string(p.shards_owned);
  info["replication_backlog"] = std::to_string(p.owned_missing);
  info["bytes_pulled"] = std::to_string(p.bytes_pulled);
  info["shards_pulled"] = std::to_string(p.shards_pulled);
  info["pull_failures"] = std::to_string(p.pull_failures);
  if (auto* l = w.live_loader.load()) {
    const auto s = l->stats();
    info["epoch"] = std::to_string(s.epoch);
    info["samples_delivered"] = std::to_string(s.samples_delivered);
    info["partitions_owned"] = std::to_string(s.partitions_owned);
    info["epoch_remaining"] = std::to_string(s.epoch_remaining);
  }
  return info;
}

Status AttachExchange(DataWorker& w, mesh::MeshNode& node) {
  mesh::ExchangeOptions eo;
  eo.fetch.per_try_timeout = std::chrono::milliseconds(1000);
  SHARDMESH_ASSIGN_OR_RETURN(w.exchange, mesh::BlockExchange::Create(eo, &w.provider));
  return w.exchange->Attach(node);
}

Status StartStore(const WorkerConfig& c, DataWorker& w, mesh::MeshNode& node) {
  std::shared_ptr<const loader::DatasetCatalog> catalog;
  if (!c.dataset.empty()) {
    SHARDMESH_ASSIGN_OR_RETURN(auto dataset, loader::Dataset::Open(c.dataset));
    SHARDMESH_ASSIGN_OR_RETURN(catalog, loader::DatasetCatalog::FromDataset(*dataset));
  } else if (auto local = CatalogFromDataDir(c.data_dir); local.ok()) {
    catalog = *local;
  } else {
    spdlog::info("no source dataset: fetching the catalog from peers");
    SHARDMESH_ASSIGN_OR_RETURN(catalog, loader::FetchCatalogFromPeers(node, *w.exchange,
                                                                      std::chrono::seconds(60)));
  }
  loader::ShardStoreOptions so;
  so.data_dir = c.data_dir;
  so.source_dir = c.dataset;
  SHARDMESH_ASSIGN_OR_RETURN(w.store, loader::ShardStore::Open(so, catalog));
  w.provider.Set(w.store.get());
  spdlog::info("dataset {}: {} samples in {} shards; store {} holds {} shards{}", catalog->id(),
               catalog->num_samples(), catalog->num_shards(), w.store->dir(),
               w.store->HeldShards().size(), c.dataset.empty() ? "" : " (+ source " + c.dataset + ")");
  loader::PlacementOptions po;
  po.replication = static_cast<std::uint32_t>(c.replication);
  po.ring.vnodes = static_cast<std::uint32_t>(c.vnodes);
  SHARDMESH_ASSIGN_OR_RETURN(w.placement, loader::Placement::Start(po, node, *w.exchange, *w.store));
  node.SetStatusInfo([&w] { return StatusInfo(w); });
  return Status::OK();
}

int ConsumeEpochs(const WorkerConfig& c, DataWorker& w, mesh::MeshNode& node,
                  const std::atomic<bool>& stop) {
  loader::MeshLoaderOptions lo;
  auto strategy = loader::ParseMeshStrategy(c.strategy);
  lo.strategy = strategy.ok() ? *strategy : loader::MeshStrategy::kConsistentHash;
  lo.seed = static_cast<std::uint64_t>(c.seed);
  lo.partitions = static_cast<std::uint32_t>(c.partitions);
  lo.shuffle_window_blocks = static_cast<std::uint32_t>(c.shuffle_window_blocks);
  lo.replication = static_cast<std::uint32_t>(c.replication);
  lo.ring.vnodes = static_cast<std::uint32_t>(c.vnodes);
  lo.min_members = static_cast<std::uint32_t>(c.min_members);
  lo.settle = c.settle;
  lo.read_deadline = c.read_deadline;
  lo.epoch_end_timeout = c.epoch_end_timeout;
  lo.checkpoint_dir = c.checkpoint_dir.empty() ? c.data_dir + "/checkpoints" : c.checkpoint_dir;
  std::uint64_t first_epoch = 0;
  if (auto store = checkpoint::CheckpointStore::Create(lo.checkpoint_dir); store.ok()) {
    if (auto latest = checkpoint::LoadLatestStreamState(*store); latest.ok()) {
      lo.restore = latest->state;
      first_epoch = latest->state.epoch;
    }
  }
  auto created = loader::MeshLoader::Create(lo, node, *w.exchange, *w.store);
  if (!created.ok()) {
    spdlog::error("mesh loader: {}", created.status().message());
    return 2;
  }
  w.loader = std::move(created).value();
  if (lo.restore && lo.restore->plan_digest != w.loader->plan_digest()) {
    spdlog::warn("ignoring the checkpoint in {}: it belongs to another plan (dataset, seed, "
                 "partitions, window or strategy differ)", lo.checkpoint_dir);
    lo.restore.reset();
    first_epoch = 0;
    w.live_loader = nullptr;
    w.loader.reset();
    w.loader = std::move(loader::MeshLoader::Create(lo, node, *w.exchange, *w.store)).value();
  } else if (lo.restore) {
    spdlog::info("resuming from the checkpoint in {}: epoch {}, {} partition cursors",
                 lo.checkpoint_dir, lo.restore->epoch, lo.restore->cursors.size());
  }
  w.live_loader = w.loader.get();
  IdsWriter ids;
  if (Status s = ids.Open(c.ids_out); !s.ok()) {
    spdlog::error("{}", s.message());
    return 2;
  }
  // Placement first: an epoch that starts before this worker holds its shards reads them
  // remotely. Bounded, since a shard with no live holder can never arrive.
  const auto placement_deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (!stop && SteadyClock::now() < placement_deadline &&
         (node.LiveMembers().size() < static_cast<std::size_t>(c.min_members) ||
          w.placement->MissingOwned() > 0)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (const auto missing = w.placement->MissingOwned(); missing > 0) {
    spdlog::warn("starting with {} owned shards not yet placed here (read from peers meanwhile)",
                 missing);
  }
  w.loader->SetBeforeCommit([&ids] { ids.Flush(); });
  const auto t0 = SteadyClock::now();
  std::uint64_t delivered = 0, since_commit = 0;
  for (std::uint64_t epoch = first_epoch; epoch < static_cast<std::uint64_t>(c.epochs) && !stop;
       ++epoch) {
    if (Status s = w.loader->StartEpoch(epoch); !s.ok()) {
      spdlog::error("epoch {}: {}", epoch, s.message());
      return 1;
    }
    // Pacing: one sample every 1/consume_rate s after the previous one, never a burst to
    // catch up after a stall (a training step takes its time whenever it runs).
    auto next_due = SteadyClock::now();
    while (!stop) {
      auto next = w.loader->Next();
      if (!next.ok()) {
        ids.Flush();
        spdlog::error("epoch {}: {}", epoch, next.status().message());
        return 1;
      }
      if (!next->has_value()) break;
      ids.Add((*next)->global_index());
      ++delivered;
      if (c.consume_rate > 0) {
        next_due = std::max(next_due, SteadyClock::now() - std::chrono::milliseconds(20)) +
                   std::chrono::microseconds(1000000 / c.consume_rate);
        std::this_thread::sleep_until(next_due);
      }
      if (++since_commit >= static_cast<std::uint64_t>(c.commit_every) || ids.Due()) {
        // The ids reach the file (before-commit hook) before the commit that covers them
        // leaves this process.
        w.loader->Commit();
        since_commit = 0;
      }
    }
    ids.Flush();
    w.loader->Commit();
    since_commit = 0;
    const auto s = w.loader->stats();
    spdlog::info("epoch {} done: {} samples delivered here so far (local {}, remote {}), "
                 "{} blocks healed, {} partitions taken over",
                 epoch, s.samples_delivered, s.local_samples, s.remote_samples, s.blocks_healed,
                 s.partitions_taken_over);
  }
  const double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  const auto s = w.loader->stats();
  std::printf("worker %s: %llu samples in %.2f s (%.0f samples/s), local %llu remote %llu, "
              "%.1f MB remote\n",
              c.name.c_str(), static_cast<unsigned long long>(delivered), secs,
              secs > 0 ? delivered / secs : 0.0, static_cast<unsigned long long>(s.local_samples),
              static_cast<unsigned long long>(s.remote_samples), s.remote_bytes / 1e6);
  std::fflush(stdout);
  return 0;
}

}  // namespace shardmesh::tools
