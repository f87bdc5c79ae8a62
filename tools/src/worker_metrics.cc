#include "worker_metrics.h"

#include <memory>
#include <mutex>

namespace shardmesh::tools {
namespace {

// One consistent snapshot per scrape, taken by the scrape hook and read by every callback.
struct Snapshot {
  mesh::ExchangeStats exchange;
  loader::PlacementStatus placement;
  loader::MeshLoaderStats loader;
  std::map<mesh::MemberState, int> members;
};

}  // namespace

Status RegisterWorkerMetrics(MetricsRegistry& r, const mesh::MeshNode& node,
                             const loader::MeshJob* job) {
  auto snap = std::make_shared<Snapshot>();
  SHARDMESH_RETURN_IF_ERROR(r.AddScrapeHook([snap, job, &node] {
    *snap = Snapshot{};
    if (job != nullptr) {
      snap->exchange = job->exchange().stats();
      snap->placement = job->placement().status();
      snap->loader = job->loader().stats();
    }
    for (const auto& m : node.Members()) ++snap->members[m.state];
  }));
  auto counter = [&](const char* name, const char* help, MetricLabels labels, auto read) {
    return r.AddCounterCallback(name, help, std::move(labels),
                                [snap, read] { return static_cast<double>(read(*snap)); });
  };
  auto gauge = [&](const char* name, const char* help, MetricLabels labels, auto read) {
    return r.AddGaugeCallback(name, help, std::move(labels),
                              [snap, read] { return static_cast<double>(read(*snap)); });
  };
  const char* kSamples =
      "Samples delivered to this worker's consumer, by where their block came from.";
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_samples_delivered_total", kSamples,
                                    {{"source", "local"}},
                                    [](const Snapshot& s) { return s.loader.local_samples; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_samples_delivered_total", kSamples,
                                    {{"source", "remote"}},
                                    [](const Snapshot& s) { return s.loader.remote_samples; }));
  const char* kBytes = "Compressed block bytes read for delivery, by where they came from.";
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_block_bytes_total", kBytes, {{"source", "local"}},
                                    [](const Snapshot& s) { return s.loader.local_bytes; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_block_bytes_total", kBytes, {{"source", "remote"}},
                                    [](const Snapshot& s) { return s.loader.remote_bytes; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_blocks_healed_total",
                                    "Local blocks that failed their checksum and were rewritten.",
                                    {}, [](const Snapshot& s) { return s.loader.blocks_healed; }));
  SHARDMESH_RETURN_IF_ERROR(counter(
      "shardmesh_partitions_taken_over_total", "Partitions this worker resumed for a dead owner.",
      {}, [](const Snapshot& s) { return s.loader.partitions_taken_over; }));
  SHARDMESH_RETURN_IF_ERROR(
      counter("shardmesh_partitions_handed_over_total",
              "Partitions this worker handed, at a commit, to a member that joined mid-epoch.", {},
              [](const Snapshot& s) { return s.loader.partitions_handed_over; }));
  SHARDMESH_RETURN_IF_ERROR(
      counter("shardmesh_partitions_received_total",
              "Partitions handed to this worker after it joined mid-epoch.", {},
              [](const Snapshot& s) { return s.loader.partitions_received; }));
  SHARDMESH_RETURN_IF_ERROR(
      counter("shardmesh_epochs_rejoined_total",
              "Epochs this worker began with a member set of its own and re-joined as a guest "
              "of the mesh's (it heard no progress within settle).",
              {}, [](const Snapshot& s) { return s.loader.epochs_rejoined; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_commits_total", "Stream position commits.", {},
                                    [](const Snapshot& s) { return s.loader.commits; }));
  SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_epoch", "Current epoch.", {},
                                  [](const Snapshot& s) { return s.loader.epoch; }));
  SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_partitions_owned",
                                  "Canonical partitions this worker is delivering now.", {},
                                  [](const Snapshot& s) { return s.loader.partitions_owned; }));
  SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_replication_backlog_shards",
                                  "Shards this worker owns on the ring but does not hold yet.", {},
                                  [](const Snapshot& s) { return s.placement.owned_missing; }));
  SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_shards_held", "Verified shard copies in the store.",
                                  {}, [](const Snapshot& s) { return s.placement.shards_held; }));
  SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_store_bytes", "Bytes of shard copies on disk.", {},
                                  [](const Snapshot& s) { return s.placement.bytes_stored; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_replication_bytes_total",
                                    "Shard bytes pulled from peers, verified.", {},
                                    [](const Snapshot& s) { return s.placement.bytes_pulled; }));
  for (auto state : {mesh::MemberState::kAlive, mesh::MemberState::kSuspect,
                     mesh::MemberState::kDead, mesh::MemberState::kLeft}) {
    SHARDMESH_RETURN_IF_ERROR(gauge("shardmesh_members", "Members in this worker's view, by state.",
                                    {{"state", std::string(mesh::MemberStateName(state))}},
                                    [state](const Snapshot& s) {
                                      auto it = s.members.find(state);
                                      return it == s.members.end() ? 0 : it->second;
                                    }));
  }
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_exchange_bytes_total",
                                    "Blob bytes exchanged with peers.", {{"direction", "in"}},
                                    [](const Snapshot& s) { return s.exchange.bytes_in; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_exchange_bytes_total",
                                    "Blob bytes exchanged with peers.", {{"direction", "out"}},
                                    [](const Snapshot& s) { return s.exchange.bytes_out; }));
  SHARDMESH_RETURN_IF_ERROR(counter("shardmesh_exchange_retries_total",
                                    "Fetch tries after the first (another holder).", {},
                                    [](const Snapshot& s) { return s.exchange.retries; }));
  std::vector<double> bounds;
  for (auto us : mesh::kFetchLatencyBoundsMicros) bounds.push_back(static_cast<double>(us) / 1e6);
  return r.AddHistogramCallback(
      "shardmesh_fetch_latency_seconds", "Latency of successful block fetches from peers.", bounds,
      {}, [snap] {
        HistogramSnapshot h;
        h.counts.assign(snap->exchange.latency_buckets.begin(),
                        snap->exchange.latency_buckets.end());
        h.sum = static_cast<double>(snap->exchange.latency_sum_micros) / 1e6;
        return h;
      });
}

}  // namespace shardmesh::tools
