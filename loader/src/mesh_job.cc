#include "shardmesh/loader/mesh_job.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <utility>

#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/file.h"
#include "shardmesh/common/fork_generation.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::loader {

// Serves blobs from the store once it exists: the catalog may have to be fetched through the
// exchange before the store can be opened. NotFound until then.
class MeshJob::Provider : public mesh::BlobProvider {
 public:
  void Set(ShardStore* store) { store_.store(store); }
  Result<mesh::Blob> Get(std::string_view name) override {
    ShardStore* s = store_.load();
    if (s == nullptr) return Status::NotFound("this worker has no shard store yet");
    return s->Get(name);
  }

 private:
  std::atomic<ShardStore*> store_{nullptr};
};

namespace {

// A catalog a previous run stored under data_dir/<id>/catalog.bin.
Result<std::shared_ptr<const DatasetCatalog>> CatalogFromDataDir(const std::string& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string() + "/catalog.bin";
    if (!std::filesystem::exists(path, ec)) continue;
    SHARDMESH_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    return DatasetCatalog::Decode(AsBytes(bytes), path);
  }
  return Status::NotFound("no catalog in " + dir);
}

Status Context(const Status& s, std::string_view step) {
  return Status(s.code(), fmt::format("{}: {}", step, s.message()));
}

}  // namespace

MeshJob::~MeshJob() {
  if (fork_generation_ != ForkGeneration()) {
    (void)loader_.release();
    (void)placement_.release();
    (void)store_.release();
    (void)exchange_.release();
    (void)node_.release();
    (void)provider_.release();
    return;
  }
  StopData();
  if (node_) node_->Stop();
  exchange_.reset();
}

void MeshJob::StopData() {
  if (node_) {
    // The loop thread must not reach the parts going away (the setters wait for a call in
    // progress).
    node_->SetStatusInfo(nullptr);
    node_->SetEventHandler(nullptr);
  }
  loader_.reset();
  placement_.reset();
}

Result<std::unique_ptr<MeshJob>> MeshJob::Start(MeshJobOptions options,
                                                mesh::MeshOptions mesh_options,
                                                std::vector<std::string> seeds,
                                                std::unique_ptr<mesh::Transport> transport) {
  if (options.data_dir.empty()) return Status::InvalidArgument("mesh job: data_dir is empty");
  std::unique_ptr<MeshJob> job(new MeshJob());
  job->fork_generation_ = ForkGeneration();
  job->cancel_ = options.cancel;
  if (!transport) {
    mesh::ZmqTransportOptions to;
    to.bind = mesh_options.bind.empty() ? to.bind : mesh_options.bind;
    to.advertise = mesh_options.advertise;
    SHARDMESH_ASSIGN_OR_RETURN(transport, mesh::ZmqTransport::Create(to));
  }
  SHARDMESH_ASSIGN_OR_RETURN(job->node_,
                             mesh::MeshNode::Create(mesh_options, std::move(transport)));
  job->provider_ = std::make_unique<Provider>();
  SHARDMESH_ASSIGN_OR_RETURN(job->exchange_,
                             mesh::BlockExchange::Create(options.exchange, job->provider_.get()));
  SHARDMESH_RETURN_IF_ERROR(job->exchange_->Attach(*job->node_));
  MeshJob* raw = job.get();
  job->node_->SetEventHandler([raw, on_event = options.on_event](const mesh::MembershipEvent& e) {
    if (raw->placement_) raw->placement_->Wake();
    if (on_event) on_event(e);
  });
  // The dataset and the store (its lock) are checked before joining whenever the catalog is
  // known here: a worker refused for its dataset or a data_dir in use had already joined, and
  // its members then saw it join, die and stay dead, moving the ring and the placement.
  std::shared_ptr<const DatasetCatalog> catalog;
  if (!options.dataset.empty()) {
    auto dataset = Dataset::Open(options.dataset);
    if (!dataset.ok()) return Context(dataset.status(), "source dataset (key 'dataset')");
    SHARDMESH_ASSIGN_OR_RETURN(catalog, DatasetCatalog::FromDataset(**dataset));
  } else if (auto local = CatalogFromDataDir(options.data_dir); local.ok()) {
    catalog = *local;
  }
  const auto open_store = [&]() -> Status {
    ShardStoreOptions so;
    so.data_dir = options.data_dir;
    so.source_dir = options.dataset;
    so.verify_at_open = options.verify_store_at_start;
    auto store = ShardStore::Open(so, catalog);
    if (!store.ok()) return Context(store.status(), "shard store (key 'data_dir')");
    job->store_ = std::move(store).value();
    job->provider_->Set(job->store_.get());
    return Status::OK();
  };
  if (catalog) SHARDMESH_RETURN_IF_ERROR(open_store());
  // The loader's options and its checkpoint directory, before joining too.
  if (Status valid = ValidateMeshLoaderOptions(options.loader); !valid.ok()) return valid;
  const std::string checkpoint_dir = options.loader.checkpoint_dir.empty()
                                         ? options.data_dir + "/checkpoints"
                                         : options.loader.checkpoint_dir;
  auto checkpoints = checkpoint::CheckpointStore::Create(checkpoint_dir);
  if (!checkpoints.ok()) return Context(checkpoints.status(), "stream checkpoints");
  SHARDMESH_RETURN_IF_ERROR(job->node_->Start(std::move(seeds)));
  if (!catalog) {
    spdlog::info("no source dataset: fetching the catalog from peers");
    auto fetched = FetchCatalogFromPeers(*job->node_, *job->exchange_, options.catalog_timeout,
                                         options.cancel);
    if (!fetched.ok()) {
      // Stopped on purpose: leave, so that peers see a leave rather than a death.
      if (fetched.status().code() == StatusCode::kAborted) {
        (void)job->node_->Leave(mesh_options.probe_interval);
      }
      return Context(fetched.status(), "dataset catalog");
    }
    catalog = *fetched;
    SHARDMESH_RETURN_IF_ERROR(open_store());
  }
  spdlog::info("dataset {}: {} samples in {} shards; store {} holds {} shards{}", catalog->id(),
               catalog->num_samples(), catalog->num_shards(), job->store_->dir(),
               job->store_->HeldShards().size(),
               options.dataset.empty() ? "" : " (+ source " + options.dataset + ")");
  SHARDMESH_ASSIGN_OR_RETURN(job->placement_, Placement::Start(options.placement, *job->node_,
                                                               *job->exchange_, *job->store_));

  MeshLoaderOptions lo = options.loader;
  lo.cancel = options.cancel;
  lo.replication = options.placement.replication;
  lo.ring = options.placement.ring;
  lo.checkpoint_dir = checkpoint_dir;
  // The newest checkpoint of this plan: one of another plan (dataset, seed, partitions, window
  // or strategy differ) is skipped with a warning, like a damaged one, and does not hide an
  // older one of this plan.
  const std::uint64_t plan = MeshPlanDigest(*catalog, lo);
  auto latest = checkpoint::LoadLatestStreamState(
      *checkpoints, [plan](const checkpoint::StreamState& state) {
        return state.plan_digest == plan
                   ? Status::OK()
                   : Status::FailedPrecondition(
                         "it belongs to another plan (dataset, seed, partitions, window or "
                         "strategy differ)");
      });
  if (latest.ok()) {
    lo.restore = latest->state;
    job->first_epoch_ = latest->state.epoch;
    job->restored_from_ = latest->path;
    spdlog::info("resuming from the checkpoint {}: epoch {}, {} partition cursors", latest->path,
                 latest->state.epoch, latest->state.cursors.size());
  }
  auto loader = MeshLoader::Create(lo, *job->node_, *job->exchange_, *job->store_);
  if (!loader.ok()) return Context(loader.status(), "mesh loader");
  job->loader_ = std::move(loader).value();
  return job;
}

Status MeshJob::WaitForPlacement(std::size_t min_members, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cancel_ && cancel_->load()) return Status::Aborted("stopped while waiting for placement");
    const bool members = node_->LiveMembers().size() >= min_members;
    const std::uint32_t missing = placement_->MissingOwned();
    if (members && missing == 0) return Status::OK();
    if (std::chrono::steady_clock::now() >= deadline) {
      const std::size_t live = node_->LiveMembers().size();
      return Status::DeadlineExceeded(
          missing == 0 ? fmt::format("owned shards all placed, but only {} of the {} members "
                                     "needed are live",
                                     live, min_members)
                       : fmt::format("{} owned shards not placed here yet; {} of {} members live",
                                     missing, live, min_members));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Status MeshJob::Leave(Duration drain) {
  StopData();
  return node_->Leave(drain);
}

}  // namespace shardmesh::loader
