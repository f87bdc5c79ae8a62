// DataCluster: mesh-mode data workers on 127.0.0.1 for integration tests (issues 4 and 5): a
// generated dataset, one store and ids_out file per worker, and the checks every scenario
// makes: shard copies held, samples lost and duplicated, local and remote counts, logs.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "mesh_cluster.h"

namespace shardmesh::testing {

class DataCluster {
 public:
  static constexpr int kSamples = 20000;
  static constexpr int kShards = 16;
  static constexpr int kCommitEvery = 64;

  explicit DataCluster(std::string name) : cluster_(std::move(name)) {}

  MeshCluster& mesh() { return cluster_; }
  const MeshCluster& mesh() const { return cluster_; }

  // Generates the dataset; returns false (with a gtest failure) when gen fails.
  void Generate() {
    ChildProcess gen({SHARDMESH_BIN, "gen", "--out", Source(), "--samples",
                      std::to_string(kSamples), "--shards", std::to_string(kShards),
                      "--feature-dim", "64", "--seq-len", "16", "--block-kib", "64"},
                     cluster_.dir() + "/gen.log");
    ASSERT_EQ(gen.Wait(std::chrono::seconds(60)), 0) << gen.ReadLog();
  }

  // Config lines of worker i: its store, ids file and checkpoints, plus `extra`. Worker 0 has
  // the source dataset, or every worker when `shared_source` (a shared path).
  std::string Config(int i, const std::string& extra) const {
    std::string c = "data_dir = \"" + DataDir(i) + "\"\nids_out = \"" + IdsPath(i) +
                    "\"\npartitions = 64\ncommit_every = " + std::to_string(kCommitEvery) + "\n" +
                    extra;
    if (i == 0 || shared_source_) c += "dataset = \"" + Source() + "\"\n";
    if (static_cast<std::size_t>(i) < metrics_ports_.size()) {
      c += "metrics_port = " + std::to_string(metrics_ports_[i]) + "\n";
    }
    return c;
  }
  // Gives workers 0..n-1 a Prometheus endpoint on a free loopback port (before Start).
  void EnableMetrics(int n) {
    for (int i = 0; i < n; ++i) metrics_ports_.push_back(FreeLoopbackPort());
  }
  int MetricsPort(int i) const { return metrics_ports_.at(i); }
  void set_shared_source(bool shared) { shared_source_ = shared; }

  void Start(int n, const std::string& extra) {
    cluster_.Start(n, [&](int i) { return Config(i, extra); });
  }
  // Rewrites worker i's config with `extra` and starts it again (a restart).
  void Restart(int i, const std::string& extra) {
    cluster_.WriteConfig(i, Config(i, extra));
    cluster_.Launch(i);
  }
  int Add(const std::string& extra) {
    const int i = cluster_.size();
    return cluster_.Add(Config(i, extra));
  }

  std::string Source() const { return cluster_.dir() + "/source"; }
  std::string DataDir(int i) const { return cluster_.dir() + "/d" + std::to_string(i); }
  std::string IdsPath(int i) const { return cluster_.dir() + "/ids" + std::to_string(i) + ".txt"; }
  std::string CheckpointDir(int i) const { return DataDir(i) + "/checkpoints"; }

  // The shard files held in worker i's store (verified copies only: .part files excluded).
  std::set<std::string> Held(int i) const {
    namespace fs = std::filesystem;
    std::set<std::string> out;
    std::error_code ec;
    for (const auto& sub : fs::directory_iterator(DataDir(i), ec)) {
      for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
        const std::string name = f.path().filename().string();
        if (name.rfind("shard-", 0) == 0 && f.path().extension() == ".smd") out.insert(name);
      }
    }
    return out;
  }

  // True when every shard has at least `r` copies among `workers`' stores.
  bool EveryShardHasCopies(const std::vector<int>& workers, int r) const {
    std::map<std::string, int> copies;
    for (int i : workers)
      for (const auto& f : Held(i)) ++copies[f];
    if (copies.size() != static_cast<std::size_t>(kShards)) return false;
    for (const auto& [f, n] : copies)
      if (n < r) return false;
    return true;
  }

  struct Delivery {
    std::uint64_t total = 0;
    std::uint64_t lost = 0;
    std::uint64_t duplicates = 0;
  };
  // Reads every worker's ids file (workers 0..size()-1).
  Delivery ReadDelivery() const {
    std::vector<int> count(kSamples, 0);
    Delivery d;
    for (int i = 0; i < cluster_.size(); ++i) {
      std::ifstream in(IdsPath(i));
      std::uint64_t id;
      while (in >> id) {
        EXPECT_LT(id, static_cast<std::uint64_t>(kSamples));
        if (id < kSamples) ++count[id];
        ++d.total;
      }
    }
    for (int c : count) {
      d.lost += c == 0;
      d.duplicates += c > 1 ? c - 1 : 0;
    }
    return d;
  }

  // Local and remote sample counts from the workers' summary lines.
  std::pair<std::uint64_t, std::uint64_t> LocalRemote() const {
    std::uint64_t local = 0, remote = 0;
    const std::regex line(R"(worker w\d+: \d+ samples .* local (\d+) remote (\d+))");
    for (const auto& [i, text] : Logs()) {
      for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
        local += std::stoull((*it)[1]);
        remote += std::stoull((*it)[2]);
      }
    }
    return {local, remote};
  }

  // Each worker's whole log (all its runs), by index.
  std::map<int, std::string> Logs() const {
    std::map<int, std::string> out;
    for (int i = 0; i < cluster_.size(); ++i) {
      std::ifstream in(cluster_.dir() + "/" + cluster_.Name(i) + ".log");
      out[i] = std::string(std::istreambuf_iterator<char>(in), {});
    }
    return out;
  }
  std::string AllLogs() const {
    std::string all;
    for (const auto& [i, text] : Logs()) all += "--- " + cluster_.Name(i) + "\n" + text;
    return all;
  }
  bool LogHas(int i, const std::string& text) const {
    return Logs().at(i).find(text) != std::string::npos;
  }

  // Worker i exits with `code` within `within`.
  void ExpectExit(int i, int code, std::chrono::seconds within) {
    auto got = cluster_.worker(i).Wait(within);
    ASSERT_TRUE(got.has_value()) << cluster_.Name(i) << " did not exit\n" << AllLogs();
    EXPECT_EQ(*got, code) << cluster_.Name(i) << "\n" << AllLogs();
  }

  // Waits until every worker in `workers` has logged the end of epoch `epoch`.
  bool WaitForEpochDone(const std::vector<int>& workers, int epoch,
                        std::chrono::milliseconds timeout) const {
    const std::string done = "epoch " + std::to_string(epoch) + " done";
    return WaitFor(
        [&] {
          const auto logs = Logs();
          for (int i : workers)
            if (logs.at(i).find(done) == std::string::npos) return false;
          return true;
        },
        timeout);
  }

  // Waits until worker i has committed something to its ids file.
  bool WaitForReading(int i, std::chrono::milliseconds timeout) const {
    return WaitFor(
        [&] {
          std::error_code ec;
          return std::filesystem::file_size(IdsPath(i), ec) > 0 && !ec;
        },
        timeout);
  }

 private:
  MeshCluster cluster_;
  bool shared_source_ = false;
  std::vector<int> metrics_ports_;
};

}  // namespace shardmesh::testing
