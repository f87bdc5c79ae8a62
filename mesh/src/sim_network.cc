// SimNetwork: one global min-heap of in-flight messages keyed by (due time, sequence), and a
// deque inbox per node. Receive() first moves every due message into its inbox, then pops.
#include "shardmesh/mesh/sim_network.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "shardmesh/common/random.h"

namespace shardmesh::mesh {
namespace {

constexpr int kNoGroup = -1;

struct SimNode {
  std::string endpoint;
  std::deque<Envelope> inbox;
  bool attached = false;
  bool down = false;
  std::uint64_t generation = 0;  // bumped on every Attach, so stale Transports are detached
  Duration processing_delay{0};
  int group = kNoGroup;
  SimStats stats;
};

struct InFlightMessage {
  TimePoint due;
  std::uint64_t seq = 0;
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::uint64_t wire_bytes = 0;
  Envelope envelope;
};

// Heap order: the earliest due time first, ties broken by send order, so runs are reproducible.
struct LaterFirst {
  bool operator()(const InFlightMessage& a, const InFlightMessage& b) const {
    if (a.due != b.due) return a.due > b.due;
    return a.seq > b.seq;
  }
};

std::uint64_t LinkKey(std::uint32_t from, std::uint32_t to) {
  return (static_cast<std::uint64_t>(from) << 32) | to;
}

void AddSent(SimStats& s, std::uint64_t bytes) {
  ++s.messages_sent;
  s.bytes_sent += bytes;
}
void AddDelivered(SimStats& s, std::uint64_t bytes) {
  ++s.messages_delivered;
  s.bytes_delivered += bytes;
}
void AddDropped(SimStats& s, std::uint64_t bytes) {
  ++s.messages_dropped;
  s.bytes_dropped += bytes;
}

double Clamp01(double p) { return std::clamp(p, 0.0, 1.0); }

}  // namespace

class SimNetwork::Impl {
 public:
  Impl(std::uint64_t seed, const Clock& clock) : clock_(clock), rng_(seed) {}

  std::uint32_t AttachNode(const std::string& endpoint, std::uint64_t* generation) {
    std::lock_guard lock(mu_);
    const std::uint32_t id = NodeId(endpoint);
    SimNode& node = nodes_[id];
    ++node.generation;
    node.attached = true;
    node.inbox.clear();
    *generation = node.generation;
    return id;
  }

  void Detach(std::uint32_t id, std::uint64_t generation) {
    std::lock_guard lock(mu_);
    SimNode& node = nodes_[id];
    if (node.generation != generation) return;
    node.attached = false;
    node.inbox.clear();
  }

  Status Send(std::uint32_t from, std::uint64_t generation, const std::string& to_endpoint,
              const Envelope& envelope) {
    std::lock_guard lock(mu_);
    SimNode& sender = nodes_[from];
    if (sender.generation != generation || !sender.attached) {
      return Status::Unavailable("sim transport for " + sender.endpoint + " is detached");
    }
    const std::uint64_t bytes =
        EncodeHeader(envelope.header).size() + envelope.payload.size() + envelope.attachment.size();
    AddSent(sender.stats, bytes);
    AddSent(total_, bytes);

    const auto it = index_.find(to_endpoint);
    if (it == index_.end()) {
      Drop(from, bytes);
      return Status::OK();
    }
    const std::uint32_t to = it->second;
    // Every fault draw happens on every send, whatever the outcome, so a change in one fault
    // setting does not shift the random stream of unrelated messages.
    const bool lost_global = rng_.UniformDouble() < drop_rate_;
    bool lost_link = false;
    if (!link_drop_.empty()) {
      const auto link = link_drop_.find(LinkKey(from, to));
      const double u = rng_.UniformDouble();
      lost_link = link != link_drop_.end() && u < link->second;
    }
    if (lost_global || lost_link || !CanFlow(from, to) || sender.down) {
      Drop(from, bytes);
      return Status::OK();
    }
    Enqueue(from, to, bytes, envelope);
    if (duplicate_rate_ > 0 && rng_.UniformDouble() < duplicate_rate_) {
      ++sender.stats.messages_duplicated;
      ++total_.messages_duplicated;
      Enqueue(from, to, bytes, envelope);
    }
    return Status::OK();
  }

  std::optional<Envelope> Receive(std::uint32_t id, std::uint64_t generation) {
    std::lock_guard lock(mu_);
    Pump();
    SimNode& node = nodes_[id];
    if (node.generation != generation || !node.attached || node.down || node.inbox.empty()) {
      return std::nullopt;
    }
    Envelope envelope = std::move(node.inbox.front());
    node.inbox.pop_front();
    return envelope;
  }

  void SetDropRate(double p) {
    std::lock_guard lock(mu_);
    drop_rate_ = Clamp01(p);
  }

  void SetLinkDropRate(const std::string& from, const std::string& to, double p) {
    std::lock_guard lock(mu_);
    const std::uint64_t key = LinkKey(NodeId(from), NodeId(to));
    if (p <= 0) {
      link_drop_.erase(key);
    } else {
      link_drop_[key] = Clamp01(p);
    }
  }

  void SetDelay(Duration base, Duration jitter) {
    std::lock_guard lock(mu_);
    base_delay_ = std::max(base, Duration(0));
    jitter_ = std::max(jitter, Duration(0));
  }

  void SetDuplicateRate(double p) {
    std::lock_guard lock(mu_);
    duplicate_rate_ = Clamp01(p);
  }

  void Partition(const std::vector<std::vector<std::string>>& groups) {
    std::lock_guard lock(mu_);
    partition_groups_.clear();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      for (const std::string& endpoint : groups[g]) {
        partition_groups_[endpoint] = static_cast<int>(g);
      }
    }
    for (SimNode& node : nodes_) node.group = GroupOf(node.endpoint);
    partitioned_ = true;
  }

  void Heal() {
    std::lock_guard lock(mu_);
    partitioned_ = false;
    partition_groups_.clear();
    for (SimNode& node : nodes_) node.group = kNoGroup;
    blocked_.clear();
  }

  void SetBlocked(const std::string& from, const std::string& to, bool blocked) {
    std::lock_guard lock(mu_);
    const std::uint64_t key = LinkKey(NodeId(from), NodeId(to));
    if (blocked) {
      blocked_.insert(key);
    } else {
      blocked_.erase(key);
    }
  }

  void SetDown(const std::string& endpoint, bool down) {
    std::lock_guard lock(mu_);
    SimNode& node = nodes_[NodeId(endpoint)];
    node.down = down;
    if (down) node.inbox.clear();
  }

  bool IsDown(const std::string& endpoint) const {
    std::lock_guard lock(mu_);
    const auto it = index_.find(endpoint);
    return it != index_.end() && nodes_[it->second].down;
  }

  void SetProcessingDelay(const std::string& endpoint, Duration delay) {
    std::lock_guard lock(mu_);
    nodes_[NodeId(endpoint)].processing_delay = std::max(delay, Duration(0));
  }

  std::optional<TimePoint> NextDeliveryTime() const {
    std::lock_guard lock(mu_);
    if (heap_.empty()) return std::nullopt;
    return heap_.front().due;
  }

  std::size_t InFlight() const {
    std::lock_guard lock(mu_);
    return heap_.size();
  }

  SimStats TotalStats() const {
    std::lock_guard lock(mu_);
    return total_;
  }

  SimStats NodeStats(const std::string& endpoint) const {
    std::lock_guard lock(mu_);
    const auto it = index_.find(endpoint);
    return it == index_.end() ? SimStats{} : nodes_[it->second].stats;
  }

  void ResetStats() {
    std::lock_guard lock(mu_);
    total_ = SimStats{};
    for (SimNode& node : nodes_) node.stats = SimStats{};
  }

 private:
  // Returns the node id of `endpoint`, creating an unattached node the first time, so faults
  // can be configured before a node attaches.
  std::uint32_t NodeId(const std::string& endpoint) {
    const auto [it, inserted] =
        index_.try_emplace(endpoint, static_cast<std::uint32_t>(nodes_.size()));
    if (inserted) {
      SimNode& node = nodes_.emplace_back();
      node.endpoint = endpoint;
      node.group = partitioned_ ? GroupOf(endpoint) : kNoGroup;
    }
    return it->second;
  }

  int GroupOf(const std::string& endpoint) const {
    const auto it = partition_groups_.find(endpoint);
    return it == partition_groups_.end() ? kNoGroup : it->second;
  }

  // Whether the network lets a message from `from` reach `to` right now (the destination's
  // liveness included; the sender's only at send time).
  bool CanFlow(std::uint32_t from, std::uint32_t to) const {
    const SimNode& dst = nodes_[to];
    if (!dst.attached || dst.down) return false;
    if (partitioned_ && nodes_[from].group != dst.group) return false;
    return blocked_.empty() || !blocked_.contains(LinkKey(from, to));
  }

  void Enqueue(std::uint32_t from, std::uint32_t to, std::uint64_t bytes,
               const Envelope& envelope) {
    Duration delay = base_delay_ + nodes_[to].processing_delay;
    if (jitter_.count() > 0) {
      delay += Duration(static_cast<Duration::rep>(
          rng_.Uniform(static_cast<std::uint64_t>(jitter_.count()) + 1)));
    }
    heap_.push_back(InFlightMessage{clock_.Now() + delay, next_seq_++, from, to, bytes, envelope});
    std::push_heap(heap_.begin(), heap_.end(), LaterFirst{});
  }

  void Drop(std::uint32_t from, std::uint64_t bytes) {
    AddDropped(nodes_[from].stats, bytes);
    AddDropped(total_, bytes);
  }

  void Pump() {
    const TimePoint now = clock_.Now();
    while (!heap_.empty() && heap_.front().due <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), LaterFirst{});
      InFlightMessage message = std::move(heap_.back());
      heap_.pop_back();
      if (!CanFlow(message.from, message.to)) {
        Drop(message.from, message.wire_bytes);
        continue;
      }
      SimNode& dst = nodes_[message.to];
      AddDelivered(dst.stats, message.wire_bytes);
      AddDelivered(total_, message.wire_bytes);
      dst.inbox.push_back(std::move(message.envelope));
    }
  }

  mutable std::mutex mu_;
  const Clock& clock_;
  Rng rng_;
  std::deque<SimNode> nodes_;  // a deque: references stay valid as nodes are added
  std::unordered_map<std::string, std::uint32_t> index_;
  double drop_rate_ = 0;
  double duplicate_rate_ = 0;
  Duration base_delay_{0};
  Duration jitter_{0};
  std::unordered_map<std::uint64_t, double> link_drop_;
  std::unordered_set<std::uint64_t> blocked_;
  bool partitioned_ = false;
  std::unordered_map<std::string, int> partition_groups_;
  std::vector<InFlightMessage> heap_;
  std::uint64_t next_seq_ = 0;
  SimStats total_;
};

class SimNetwork::SimTransport final : public Transport {
 public:
  SimTransport(Impl* network, std::string endpoint, std::uint32_t id, std::uint64_t generation)
      : network_(network), endpoint_(std::move(endpoint)), id_(id), generation_(generation) {}
  ~SimTransport() override { network_->Detach(id_, generation_); }

  const std::string& endpoint() const override { return endpoint_; }

  Status Send(const std::string& to_endpoint, const Envelope& envelope) override {
    return network_->Send(id_, generation_, to_endpoint, envelope);
  }

  // Never blocks: simulated time only moves when the test advances the clock.
  std::optional<Envelope> Receive(Duration /*timeout*/) override {
    return network_->Receive(id_, generation_);
  }

  // Receive never waits, so there is no wait to end: a wake-up is always already served.
  void Wake() override {}

 private:
  Impl* network_;
  std::string endpoint_;
  std::uint32_t id_;
  std::uint64_t generation_;
};

SimNetwork::SimNetwork(std::uint64_t seed, const Clock& clock)
    : impl_(std::make_unique<Impl>(seed, clock)) {}
SimNetwork::~SimNetwork() = default;

std::unique_ptr<Transport> SimNetwork::Attach(std::string endpoint) {
  std::uint64_t generation = 0;
  const std::uint32_t id = impl_->AttachNode(endpoint, &generation);
  return std::make_unique<SimTransport>(impl_.get(), std::move(endpoint), id, generation);
}

void SimNetwork::SetDropRate(double probability) { impl_->SetDropRate(probability); }
void SimNetwork::SetLinkDropRate(const std::string& from, const std::string& to,
                                 double probability) {
  impl_->SetLinkDropRate(from, to, probability);
}
void SimNetwork::SetDelay(Duration base, Duration jitter) { impl_->SetDelay(base, jitter); }
void SimNetwork::SetDuplicateRate(double probability) { impl_->SetDuplicateRate(probability); }
void SimNetwork::Partition(const std::vector<std::vector<std::string>>& groups) {
  impl_->Partition(groups);
}
void SimNetwork::Heal() { impl_->Heal(); }
void SimNetwork::BlockLink(const std::string& from, const std::string& to) {
  impl_->SetBlocked(from, to, true);
}
void SimNetwork::UnblockLink(const std::string& from, const std::string& to) {
  impl_->SetBlocked(from, to, false);
}
void SimNetwork::Down(const std::string& endpoint) { impl_->SetDown(endpoint, true); }
void SimNetwork::Up(const std::string& endpoint) { impl_->SetDown(endpoint, false); }
bool SimNetwork::IsDown(const std::string& endpoint) const { return impl_->IsDown(endpoint); }
void SimNetwork::SetProcessingDelay(const std::string& endpoint, Duration delay) {
  impl_->SetProcessingDelay(endpoint, delay);
}
std::optional<TimePoint> SimNetwork::NextDeliveryTime() const { return impl_->NextDeliveryTime(); }
std::size_t SimNetwork::InFlight() const { return impl_->InFlight(); }
SimStats SimNetwork::TotalStats() const { return impl_->TotalStats(); }
SimStats SimNetwork::NodeStats(const std::string& endpoint) const {
  return impl_->NodeStats(endpoint);
}
void SimNetwork::ResetStats() { impl_->ResetStats(); }

}  // namespace shardmesh::mesh
