// MeshCluster: N `shardmesh worker` processes on 127.0.0.1 for integration tests, each with a
// generated config, a log file and a known endpoint, queried through QueryMeshStatus.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process.h"
#include "shardmesh/mesh/mesh_status.h"
#include "shardmesh/mesh/status_client.h"

namespace shardmesh::testing {

class MeshCluster {
 public:
  explicit MeshCluster(std::string name) : dir_("shardmesh_it_" + name + "_") {}

  // Writes w<i>.toml for `n` workers (seeded through the first two) plus extra config lines
  // from `extra(i)`, and starts them all.
  void Start(int n, const std::function<std::string(int)>& extra = {}) {
    for (int i = 0; i < n; ++i) ports_.push_back(FreeLoopbackPort());
    for (int i = 0; i < n; ++i) {
      WriteConfig(i, extra ? extra(i) : "");
      Launch(i);
    }
  }

  // Adds one more worker (seeded like the others), starts it and returns its index.
  int Add(const std::string& extra) {
    ports_.push_back(FreeLoopbackPort());
    const int i = static_cast<int>(ports_.size()) - 1;
    WriteConfig(i, extra);
    Launch(i);
    return i;
  }

  void WriteConfig(int i, const std::string& extra) {
    std::string seeds = "\"" + Endpoint(0) + "\"";
    if (ports_.size() > 1) seeds += ", \"" + Endpoint(1) + "\"";
    WriteTextFile(ConfigPath(i), "name = \"" + Name(i) + "\"\nbind = \"" + Endpoint(i) +
                                     "\"\nseeds = [" + seeds + "]\nprofile = \"local\"\n" + extra);
  }

  void Launch(int i) {
    workers_[i] = std::make_unique<ChildProcess>(
        std::vector<std::string>{SHARDMESH_BIN, "worker", "--config", ConfigPath(i)},
        dir_.path() + "/" + Name(i) + ".log");
  }

  ChildProcess& worker(int i) { return *workers_.at(i); }
  void Forget(int i) { workers_.erase(i); }
  std::string Name(int i) const { return "w" + std::to_string(i); }
  std::string Endpoint(int i) const { return "tcp://127.0.0.1:" + std::to_string(ports_[i]); }
  std::string ConfigPath(int i) const { return dir_.path() + "/" + Name(i) + ".toml"; }
  const std::string& dir() const { return dir_.path(); }
  int size() const { return static_cast<int>(ports_.size()); }

  // Transport options (curve keys) used by the status queries below.
  void SetClientOptions(mesh::ZmqTransportOptions options) { client_ = std::move(options); }

  Result<mesh::MeshStatus> Status(int i) const {
    return mesh::QueryMeshStatus(Endpoint(i), std::chrono::milliseconds(1000), client_);
  }

  // The state `viewer` holds for `member`, or "" when unknown or unreachable.
  std::string StateOf(int viewer, const std::string& member) const {
    auto s = Status(viewer);
    if (!s.ok()) return "";
    for (const auto& m : s->members)
      if (m.name == member) return std::string(mesh::MemberStateName(m.state));
    return "";
  }

  std::uint64_t IncarnationOf(int viewer, const std::string& member) const {
    auto s = Status(viewer);
    if (!s.ok()) return 0;
    for (const auto& m : s->members)
      if (m.name == member) return m.incarnation;
    return 0;
  }

  // True when every listed viewer sees exactly `alive` as alive and the mesh agreed.
  bool AllAgree(const std::vector<int>& viewers, std::size_t alive) const {
    for (int v : viewers) {
      auto s = Status(v);
      if (!s.ok() || !s->agreed) return false;
      std::size_t n = 0;
      for (const auto& m : s->members) n += (m.state == mesh::MemberState::kAlive);
      if (n != alive) return false;
    }
    return true;
  }

  std::string Logs() const {
    std::string all;
    for (const auto& [i, w] : workers_) all += "--- " + Name(i) + "\n" + w->ReadLog();
    return all;
  }

 private:
  TempDir dir_;
  mesh::ZmqTransportOptions client_;
  std::vector<int> ports_;
  std::map<int, std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace shardmesh::testing
