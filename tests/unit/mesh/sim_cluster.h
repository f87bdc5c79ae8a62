// SimCluster: N Membership nodes on one SimNetwork and one ManualClock, for the membership
// simulation tests and benchmarks/membership_bench.cc. Time moves in fixed steps; each step
// every running node drains its inbox into Handle() and then Tick()s. Nothing sleeps.
//
// Not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardmesh/common/clock.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/membership.h"
#include "shardmesh/mesh/sim_network.h"

namespace shardmesh::mesh::testing {

class SimCluster {
 public:
  struct Node {
    std::string name;
    std::string endpoint;
    std::unique_ptr<Transport> transport;
    std::unique_ptr<Membership> membership;
    bool running = true;
    std::vector<MembershipEvent> events;
    std::vector<TimePoint> event_times;
  };

  // `step` is the simulation granularity: message handling and timers are rounded up to it.
  SimCluster(std::uint64_t seed, MeshOptions base, Duration step)
      : seed_(seed), base_(std::move(base)), step_(step), net_(seed, clock_) {
    net_.SetDelay(std::chrono::microseconds(500), std::chrono::milliseconds(2));
  }

  // Adds node "node-<i>" (i = current size) at "sim://node-<i>"; it knows only itself.
  std::size_t AddNode() { return AddNamed("node-" + std::to_string(nodes_.size()), {}); }
  // Adds a node with an explicit name and (optionally) endpoint.
  std::size_t AddNamed(const std::string& name, std::string endpoint) {
    if (endpoint.empty()) endpoint = "sim://" + name;
    auto node = std::make_unique<Node>();
    node->name = name;
    node->endpoint = endpoint;
    Start(*node, nodes_.size());
    nodes_.push_back(std::move(node));
    return nodes_.size() - 1;
  }

  // Creates `n` nodes; node 0 is the seed of everyone, and node i also seeds from a random
  // earlier node so the seed is not the only source of full state.
  void CreateAndJoin(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) AddNode();
    for (std::size_t i = 0; i < n; ++i) JoinVia(i, 0);
  }
  void JoinVia(std::size_t i, std::size_t seed) {
    std::vector<std::string> seeds{nodes_[seed]->endpoint};
    if (i > 1) seeds.push_back(nodes_[Mix64(seed_ ^ i) % i]->endpoint);
    (void)nodes_[i]->membership->Join(seeds);
  }

  Node& node(std::size_t i) { return *nodes_[i]; }
  Membership& m(std::size_t i) { return *nodes_[i]->membership; }
  std::size_t size() const { return nodes_.size(); }
  SimNetwork& net() { return net_; }
  ManualClock& clock() { return clock_; }
  TimePoint now() const { return clock_.Now(); }

  // Crash: the network drops everything to and from it, and it stops running.
  void Kill(std::size_t i) {
    net_.Down(nodes_[i]->endpoint);
    nodes_[i]->running = false;
  }
  // A fresh process with the same name and endpoint (incarnation 0), joining via `seed`.
  void Restart(std::size_t i, std::size_t seed) {
    Node& n = *nodes_[i];
    n.membership.reset();
    n.transport.reset();
    net_.Up(n.endpoint);
    Start(n, i);
    JoinVia(i, seed);
  }

  void Step() {
    clock_.Advance(step_);
    for (auto& n : nodes_) {
      if (!n->running) continue;
      while (std::optional<Envelope> e = n->transport->Receive(Duration::zero())) {
        n->membership->Handle(*e);
      }
      n->membership->Tick();
    }
  }
  void Run(Duration d) {
    const TimePoint end = clock_.Now() + d;
    while (clock_.Now() < end) Step();
  }
  // Steps until `done()` (checked every `check_every`) or `limit` passes. Returns the time
  // taken, or nullopt on timeout.
  std::optional<Duration> RunUntil(const std::function<bool()>& done, Duration limit,
                                   Duration check_every = std::chrono::milliseconds(50)) {
    const TimePoint start = clock_.Now();
    TimePoint next_check = start;
    while (clock_.Now() - start <= limit) {
      if (clock_.Now() >= next_check) {
        if (done()) return clock_.Now() - start;
        next_check = clock_.Now() + check_every;
      }
      Step();
    }
    return std::nullopt;
  }

  // State of `name` in node i's view (nullopt: unknown).
  std::optional<MemberState> StateIn(std::size_t i, const std::string& name) {
    std::optional<MemberInfo> info = nodes_[i]->membership->Member(name);
    if (!info) return std::nullopt;
    return info->state;
  }
  // Every running node sees every running node alive and no one else live.
  bool AllRunningSeeEachOtherAlive() {
    std::vector<std::string> running;
    for (auto& n : nodes_) {
      if (n->running) running.push_back(n->name);
    }
    std::sort(running.begin(), running.end());
    for (auto& n : nodes_) {
      if (!n->running) continue;
      if (n->membership->LiveMembers() != running) return false;
      for (const std::string& name : running) {
        if (n->membership->Member(name)->state != MemberState::kAlive) return false;
      }
    }
    return true;
  }
  // Every running node holds exactly the running nodes live (alive or suspect): under loss a
  // member may be suspect for a moment, which is not a wrong view.
  bool AllRunningSeeEachOtherLive() {
    std::vector<std::string> running;
    for (auto& n : nodes_) {
      if (n->running) running.push_back(n->name);
    }
    std::sort(running.begin(), running.end());
    for (auto& n : nodes_) {
      if (n->running && n->membership->LiveMembers() != running) return false;
    }
    return true;
  }
  bool AllRunningAgreed() {
    for (auto& n : nodes_) {
      if (n->running && !n->membership->Agreed()) return false;
    }
    return true;
  }
  // Every running node holds `name` in `state`.
  bool AllRunningSee(const std::string& name, MemberState state) {
    for (auto& n : nodes_) {
      if (!n->running || n->name == name) continue;
      std::optional<MemberInfo> info = n->membership->Member(name);
      if (!info || info->state != state) return false;
    }
    return true;
  }
  // Number of kDead events about `name` at running nodes other than it.
  std::size_t DeadEventsAbout(const std::string& name) {
    std::size_t count = 0;
    for (auto& n : nodes_) {
      for (const MembershipEvent& e : n->events) {
        count += e.kind == MembershipEventKind::kDead && e.member.name == name;
      }
    }
    return count;
  }
  // Earliest event of `kind` about `name` at any node, or nullopt.
  std::optional<TimePoint> FirstEvent(MembershipEventKind kind, const std::string& name) {
    std::optional<TimePoint> first;
    for (auto& n : nodes_) {
      for (std::size_t k = 0; k < n->events.size(); ++k) {
        const MembershipEvent& e = n->events[k];
        if (e.kind == kind && e.member.name == name && (!first || n->event_times[k] < *first)) {
          first = n->event_times[k];
        }
      }
    }
    return first;
  }
  void ClearEvents() {
    for (auto& n : nodes_) {
      n->events.clear();
      n->event_times.clear();
    }
  }
  void set_record_events(bool on) { record_events_ = on; }

 private:
  void Start(Node& n, std::size_t index) {
    MeshOptions o = base_;
    o.name = n.name;
    o.random_seed = Mix64(seed_ * 1000003 + index + 1);
    n.transport = net_.Attach(n.endpoint);
    n.membership = std::move(Membership::Create(o, *n.transport, clock_)).value();
    n.running = true;
    Node* raw = &n;
    n.membership->SetEventHandler([this, raw](const MembershipEvent& e) {
      if (!record_events_) return;
      raw->events.push_back(e);
      raw->event_times.push_back(clock_.Now());
    });
  }

  std::uint64_t seed_;
  MeshOptions base_;
  Duration step_;
  ManualClock clock_;
  SimNetwork net_;
  std::vector<std::unique_ptr<Node>> nodes_;
  bool record_events_ = true;
};

}  // namespace shardmesh::mesh::testing
