#include "worker_data.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "shardmesh/checkpoint/stream_checkpoint.h"
#include "shardmesh/common/file.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"

namespace shardmesh::tools {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Appends delivered ids to a file; flushed (write(2) to the kernel, which survives kill -9)
// before every commit and at least once a second.
class IdsWriter {
 public:
  Status Open(const std::string& path) {
    if (path.empty()) return Status::OK();
    path_ = path;
    file_ = std::fopen(path.c_str(), "a");
    if (file_ == nullptr) {
      return Status::IOError("cannot open ids_out " + path + ": " + std::strerror(errno));
    }
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
  // A failed write is kept (error()) and ends the worker: ids written nowhere while their
  // commits go out would pass for delivered.
  void Flush() {
    if (file_ == nullptr || buffer_.empty() || !error_.ok()) return;
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size() ||
        std::fflush(file_) != 0) {
      error_ = Status::IOError("ids_out " + path_ + ": write failed: " + std::strerror(errno));
    }
    buffer_.clear();
    last_flush_ = SteadyClock::now();
  }
  const Status& error() const { return error_; }
  bool Due() const { return SteadyClock::now() - last_flush_ >= std::chrono::seconds(1); }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  Status error_;
  std::string buffer_;
  SteadyClock::time_point last_flush_ = SteadyClock::now();
};

}  // namespace

std::map<std::string, std::string> StatusInfo(const loader::MeshJob& job) {
  std::map<std::string, std::string> info;
  const auto p = job.placement().status();
  info["dataset"] = job.store().catalog().id();
  info["disk_bytes"] = std::to_string(p.bytes_stored);
  info["shards_held"] = fmt::format("{}/{}", p.shards_held, p.shards_total);
  info["shards_owned"] = std::to_string(p.shards_owned);
  info["replication_backlog"] = std::to_string(p.owned_missing);
  info["bytes_pulled"] = std::to_string(p.bytes_pulled);
  info["shards_pulled"] = std::to_string(p.shards_pulled);
  info["pull_failures"] = std::to_string(p.pull_failures);
  const auto s = job.loader().stats();
  info["epoch"] = std::to_string(s.epoch);
  info["samples_delivered"] = std::to_string(s.samples_delivered);
  info["partitions_owned"] = std::to_string(s.partitions_owned);
  info["epoch_remaining"] = std::to_string(s.epoch_remaining);
  return info;
}

Result<std::unique_ptr<loader::MeshJob>> StartJob(
    const WorkerConfig& c, std::unique_ptr<mesh::Transport> transport,
    std::function<void(const mesh::MembershipEvent&)> on_event, const std::atomic<bool>* stop) {
  loader::MeshJobOptions o;
  o.cancel = stop;
  o.data_dir = c.data_dir;
  o.dataset = c.dataset;
  o.exchange.fetch.per_try_timeout = std::chrono::milliseconds(1000);
  o.placement.replication = static_cast<std::uint32_t>(c.replication);
  o.placement.ring.vnodes = static_cast<std::uint32_t>(c.vnodes);
  o.placement.settle = c.settle;
  o.placement.drop_unowned = c.drop_unowned;
  o.verify_store_at_start = c.verify_store_at_start;
  auto strategy = loader::ParseMeshStrategy(c.strategy);
  o.loader.strategy = strategy.ok() ? *strategy : loader::MeshStrategy::kConsistentHash;
  o.loader.seed = static_cast<std::uint64_t>(c.seed);
  o.loader.partitions = static_cast<std::uint32_t>(c.partitions);
  o.loader.shuffle_window_blocks = static_cast<std::uint32_t>(c.shuffle_window_blocks);
  o.loader.min_members = static_cast<std::uint32_t>(c.min_members);
  o.loader.settle = c.settle;
  o.loader.start_timeout = c.start_timeout;
  // Getting the catalog is part of starting: the same limit (0: for ever, until SIGTERM).
  o.catalog_timeout = c.start_timeout.count() > 0 ? Duration(c.start_timeout)
                                                  : Duration(std::chrono::hours(24 * 365));
  o.loader.read_deadline = c.read_deadline;
  o.loader.epoch_end_timeout = c.epoch_end_timeout;
  o.loader.checkpoint_dir = c.checkpoint_dir;
  o.loader.persist_interval = c.persist_interval;
  o.loader.commit_broadcast_gap = c.commit_broadcast_gap;
  o.on_event = std::move(on_event);
  SHARDMESH_ASSIGN_OR_RETURN(auto job, loader::MeshJob::Start(std::move(o), ToMeshOptions(c),
                                                              c.seeds, std::move(transport)));
  loader::MeshJob* raw = job.get();
  job->node().SetStatusInfo([raw] { return StatusInfo(*raw); });
  return job;
}

int ConsumeEpochs(const WorkerConfig& c, loader::MeshJob& job, const std::atomic<bool>& stop) {
  loader::MeshLoader& loader = job.loader();
  IdsWriter ids;
  if (Status s = ids.Open(c.ids_out); !s.ok()) {
    spdlog::error("{}", s.message());
    return 1;  // a file system error, not a usage one
  }
  // min_members first, bounded by start_timeout like an epoch's start: the placement wait
  // below includes the members, so a missing member cost placement_timeout before the
  // start_timeout the user had set even began.
  const auto members_deadline = SteadyClock::now() + c.start_timeout;
  while (!stop && job.node().LiveMembers().size() < static_cast<std::size_t>(c.min_members)) {
    if (c.start_timeout.count() > 0 && SteadyClock::now() >= members_deadline) {
      spdlog::error(
          "only {} of the {} members needed (min_members) are live after "
          "start_timeout ({} ms)",
          job.node().LiveMembers().size(), c.min_members, c.start_timeout.count());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Placement next: an epoch that starts before this worker holds its shards reads them
  // remotely. Bounded, since a shard with no live holder can never arrive.
  if (Status placed =
          job.WaitForPlacement(static_cast<std::size_t>(c.min_members), c.placement_timeout);
      !placed.ok() && !stop) {  // a stop signal ends the wait: nothing to warn about
    spdlog::warn("starting before placement finished ({}); reading from peers meanwhile",
                 placed.message());
  }
  loader.SetBeforeCommit([&ids] { ids.Flush(); });
  double read_seconds = 0;  // from each epoch's start (after the membership settled) to its end
  std::uint64_t delivered = 0, since_commit = 0;
  for (std::uint64_t epoch = job.first_epoch();
       epoch < static_cast<std::uint64_t>(c.epochs) && !stop; ++epoch) {
    if (Status s = loader.StartEpoch(epoch); !s.ok()) {
      if (stop) break;  // a stop signal ended the wait: leave gracefully
      spdlog::error("epoch {}: {}", epoch, s.message());
      return 1;
    }
    const auto epoch_t0 = SteadyClock::now();
    // Pacing: one sample every 1/consume_rate s after the previous one, never a burst to
    // catch up after a stall (a training step takes its time whenever it runs).
    auto next_due = SteadyClock::now();
    bool finished = false;  // the epoch ran out, rather than a stop signal ending it
    while (!stop) {
      auto next = loader.Next();
      if (!next.ok()) {
        ids.Flush();
        if (stop) break;  // a stop signal ended a wait: leave gracefully
        spdlog::error("epoch {}: {}", epoch, next.status().message());
        return 1;
      }
      if (!next->has_value()) {
        finished = true;
        break;
      }
      ids.Add((*next)->global_index());
      ++delivered;
      if (c.consume_rate > 0) {
        next_due = std::max(next_due, SteadyClock::now() - std::chrono::milliseconds(20)) +
                   std::chrono::microseconds(1000000 / c.consume_rate);
        std::this_thread::sleep_until(next_due);
      }
      if (++since_commit >= static_cast<std::uint64_t>(c.commit_every) || ids.Due()) {
        // The ids reach the file before the commit that covers them leaves this process, and
        // a failed write sends no commit (the before-commit hook flushes too, for the commits
        // Next() makes itself, but cannot hold them back).
        ids.Flush();
        if (!ids.error().ok()) break;
        loader.Commit();
        since_commit = 0;
      }
    }
    ids.Flush();
    if (!ids.error().ok()) {
      spdlog::error("epoch {}: {}", epoch, ids.error().message());
      return 1;
    }
    loader.Commit();
    since_commit = 0;
    read_seconds += std::chrono::duration<double>(SteadyClock::now() - epoch_t0).count();
    const auto s = loader.stats();
    spdlog::info(
        "epoch {} {}: {} samples delivered here so far (local {}, remote {}), "
        "{} blocks healed, {} partitions taken over, {} handed over, {} received",
        epoch, finished ? "done" : "interrupted by a stop signal", s.samples_delivered,
        s.local_samples, s.remote_samples, s.blocks_healed,
        s.partitions_taken_over, s.partitions_handed_over, s.partitions_received);
  }
  const double secs = read_seconds;
  const auto s = loader.stats();
  std::printf(
      "worker %s: %llu samples in %.2f s (%.0f samples/s), local %llu remote %llu, "
      "%.1f MB remote\n",
      c.name.c_str(), static_cast<unsigned long long>(delivered), secs,
      secs > 0 ? delivered / secs : 0.0, static_cast<unsigned long long>(s.local_samples),
      static_cast<unsigned long long>(s.remote_samples), s.remote_bytes / 1e6);
  std::fflush(stdout);
  return 0;
}

}  // namespace shardmesh::tools
