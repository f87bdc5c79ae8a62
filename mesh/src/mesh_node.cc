#include "shardmesh/mesh/mesh_node.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "shardmesh/common/thread_name.h"
#include "shardmesh/mesh/membership.h"
#include "shardmesh/mesh/ring.h"

namespace shardmesh::mesh {
namespace {

// Post() and Stop() wake the loop through Transport::Wake(); this cap is the fallback for a
// transport whose Wake() does nothing, and bounds how stale a missed wake-up can get.
constexpr Duration kMaxWait = std::chrono::milliseconds(5);
// Envelopes handled per wake-up before timers get their turn again.
constexpr int kBatch = 256;

bool IsMembershipType(MessageType t) {
  switch (t) {
    case MessageType::kPing:
    case MessageType::kPingReq:
    case MessageType::kAck:
    case MessageType::kNack:
    case MessageType::kPushPullRequest:
    case MessageType::kPushPullResponse:
    case MessageType::kLeave:
      return true;
    default:
      return false;
  }
}

}  // namespace

class MeshNode::Impl {
 public:
  Impl(MeshOptions options, std::unique_ptr<Transport> transport,
       std::unique_ptr<Membership> membership, const Clock& clock)
      : options_(std::move(options)),
        transport_(std::move(transport)),
        membership_(std::move(membership)),
        clock_(clock) {
    // Membership raises events while mu_ is held; they wait here until the loop delivers them
    // without the lock (DeliverEvents), so a handler may call back into the node.
    membership_->SetEventHandler(
        [this](const MembershipEvent& e) { pending_events_.push_back(e); });
  }

  ~Impl() { Stop(); }

  Status Start(std::vector<std::string> seeds) {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return Status::FailedPrecondition("mesh node already started");
    // A seed list that fails entirely is still retried from Tick(), so this is not fatal.
    seeds_.clear();
    for (const std::string& seed : seeds) {
      if (seed != membership_->endpoint()) seeds_.push_back(seed);
    }
    alone_since_ = clock_.Now();
    (void)membership_->Join(std::move(seeds));
    stop_ = false;
    thread_ = std::thread([this] {
      SetCurrentThreadName("sm-node");
      Loop();
    });
    return Status::OK();
  }

  Status Leave(Duration drain) {
    if (!thread_.joinable() || stop_) return Status::FailedPrecondition("mesh node is not running");
    // Membership sends through the transport, which only the loop thread may touch.
    auto done = std::make_shared<std::promise<Status>>();
    std::future<Status> result = done->get_future();
    Post([this, done](Transport&) {
      std::lock_guard lock(mu_);
      done->set_value(membership_->Leave());
    });
    SHARDMESH_RETURN_IF_ERROR(result.get());
    std::this_thread::sleep_for(drain);
    Stop();
    return Status::OK();
  }

  void Stop() {
    stop_ = true;
    transport_->Wake();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

  MeshStatus Snapshot() const {
    std::lock_guard lock(mu_);
    MeshStatus s;
    s.self = membership_->name();
    s.endpoint = membership_->endpoint();
    s.incarnation = membership_->incarnation();
    s.health = membership_->health_score();
    const TimePoint now = clock_.Now();
    for (const MemberInfo& m : membership_->Members()) {
      MeshMemberStatus ms{m.name, m.endpoint, m.state, m.incarnation, -1};
      if (m.name == s.self) {
        ms.last_heard_ms = 0;
      } else if (m.last_heard != TimePoint{}) {
        ms.last_heard_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - m.last_heard).count();
      }
      s.members.push_back(std::move(ms));
    }
    s.ring_digest = membership_->ViewDigest();
    s.agreed = membership_->Agreed();
    const std::vector<std::string> live = membership_->LiveMembers();
    if (s.ring_digest != cached_digest_ || cached_assignment_.partitions() == 0) {
      const HashRing ring = HashRing::Build(live, RingOptions{options_.vnodes, 0});
      cached_assignment_ = AssignPartitions(ring, options_.partitions);
      cached_digest_ = s.ring_digest;
    }
    for (const std::string& m : live) s.partitions[m] = cached_assignment_.CountOf(m);
    return s;
  }

  std::vector<MemberInfo> Members() const {
    std::lock_guard lock(mu_);
    return membership_->Members();
  }
  std::vector<std::string> LiveMembers() const {
    std::lock_guard lock(mu_);
    return membership_->LiveMembers();
  }
  const std::string& name() const { return membership_->name(); }
  const std::string& endpoint() const { return membership_->endpoint(); }

  // Both setters wait for a handler call in progress: once they return, the handler they
  // replaced is neither running nor called again, so its owner may go away.
  void SetEventHandler(std::function<void(const MembershipEvent&)> handler) {
    std::lock_guard lock(handlers_mu_);
    event_handler_ = std::move(handler);
  }
  void SetStatusInfo(std::function<std::map<std::string, std::string>()> provider) {
    std::lock_guard lock(handlers_mu_);
    status_info_ = std::move(provider);
  }
  void SetMessageHandler(MessageType type, MessageHandler handler) {
    std::lock_guard lock(handlers_mu_);
    if (handler) {
      message_handlers_[type] = std::move(handler);
    } else {
      message_handlers_.erase(type);
    }
  }
  void Post(std::function<void(Transport&)> task) {
    bool was_empty = false;
    {
      std::lock_guard lock(tasks_mu_);
      was_empty = tasks_.empty();
      tasks_.push_back(std::move(task));
    }
    // Only the first task of a batch wakes the loop: the loop takes the whole batch after the
    // wake-up, and a task queued behind a pending wake-up rides along with it.
    if (was_empty) transport_->Wake();
  }

 private:
  void Loop() {
    while (!stop_) {
      Duration wait;
      {
        std::lock_guard lock(mu_);
        wait = membership_->NextDeadline() - clock_.Now();
      }
      wait = std::clamp(wait, Duration::zero(), kMaxWait);
      std::optional<Envelope> env = transport_->Receive(wait);
      RunTasks();
      for (int i = 0; env; ++i) {
        Handle(*env);
        env.reset();
        if (i + 1 < kBatch && !stop_) env = transport_->Receive(Duration::zero());
      }
      {
        std::lock_guard lock(mu_);
        membership_->Tick();
        WarnIfAlone();
      }
      DeliverEvents();
    }
    // Tasks posted before Stop() still run (a loader's last commits, a leave's messages); the
    // transport's linger then lets their messages out.
    RunTasks();
  }

  // A node given seeds that has heard from no other member for a while says so, every 30 s:
  // otherwise a wrong seed address or a CurveZMQ key the seeds refuse leaves it running as a
  // mesh of one, silently. Loop thread, under mu_.
  void WarnIfAlone() {
    if (seeds_.empty()) return;
    const TimePoint now = clock_.Now();
    if (membership_->live_count() > 1) {
      alone_since_ = now;
      joined_once_ = true;
      return;
    }
    if (now - alone_since_ < std::chrono::seconds(5) || now < next_alone_warning_) return;
    next_alone_warning_ = now + std::chrono::seconds(30);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - alone_since_).count();
    if (joined_once_) {
      spdlog::warn("no other live member for {} s; retrying the seeds ({}) and dead members",
                   secs, fmt::join(seeds_, ", "));
    } else {
      spdlog::warn(
          "no seed has answered in {} s ({}); retrying. Check the addresses and, with CurveZMQ, "
          "that the seeds list this node's curve_public in allowed_peers and that "
          "curve_server_public matches",
          secs, fmt::join(seeds_, ", "));
    }
  }

  void RunTasks() {
    std::vector<std::function<void(Transport&)>> tasks;
    {
      std::lock_guard lock(tasks_mu_);
      tasks.swap(tasks_);
    }
    for (auto& t : tasks) t(*transport_);
    // A task may have changed membership (Leave).
    if (!tasks.empty()) DeliverEvents();
  }

  // Loop thread, without mu_: only membership runs under it, so handlers may call the node's
  // own methods and a slow Snapshot() elsewhere never holds up the exchange.
  void Handle(const Envelope& env) {
    const MessageType type = env.header.type;
    if (type == MessageType::kStatusRequest) {
      ReplyStatus(env);
    } else if (IsMembershipType(type)) {
      {
        std::lock_guard lock(mu_);
        membership_->Handle(env);
      }
      DeliverEvents();
    } else {
      std::lock_guard lock(handlers_mu_);
      if (auto it = message_handlers_.find(type); it != message_handlers_.end()) {
        it->second(env, *transport_);
      }
    }
  }

  // Loop thread, without mu_: hands the queued membership events to the handler.
  void DeliverEvents() {
    std::vector<MembershipEvent> events;
    {
      std::lock_guard lock(mu_);
      if (pending_events_.empty()) return;
      events.swap(pending_events_);
    }
    std::lock_guard lock(handlers_mu_);
    if (!event_handler_) return;
    for (const MembershipEvent& e : events) event_handler_(e);
  }

  // Loop thread, without mu_ (Snapshot takes it).
  void ReplyStatus(const Envelope& request) {
    if (request.header.sender_endpoint.empty()) return;
    MeshStatus status = Snapshot();
    {
      std::lock_guard lock(handlers_mu_);
      if (status_info_) status.node_info = status_info_();
    }
    Envelope reply;
    reply.header.type = MessageType::kStatusResponse;
    reply.header.sender = status.self;
    reply.header.sender_endpoint = status.endpoint;
    reply.header.incarnation = status.incarnation;
    reply.payload = SharedBytes::FromString(MeshStatusToJson(status));
    (void)transport_->Send(request.header.sender_endpoint, reply);
  }

  MeshOptions options_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Membership> membership_;
  const Clock& clock_;
  // WarnIfAlone's state (loop thread).
  std::vector<std::string> seeds_;
  TimePoint alone_since_{};
  TimePoint next_alone_warning_{};
  bool joined_once_ = false;

  mutable std::mutex mu_;  // guards membership_, pending_events_, cached ring
  std::vector<MembershipEvent> pending_events_;
  mutable std::uint64_t cached_digest_ = 0;
  mutable PartitionAssignment cached_assignment_;

  // Held while a handler runs (see the setters). Never taken together with mu_ in the other
  // order: the loop releases mu_ before it calls a handler, and a handler may take mu_.
  std::mutex handlers_mu_;
  std::function<void(const MembershipEvent&)> event_handler_;
  std::map<MessageType, MessageHandler> message_handlers_;
  std::function<std::map<std::string, std::string>()> status_info_;  // guarded by handlers_mu_

  std::mutex tasks_mu_;
  std::vector<std::function<void(Transport&)>> tasks_;

  std::atomic<bool> stop_{true};
  std::thread thread_;
};

Result<std::unique_ptr<MeshNode>> MeshNode::Create(MeshOptions options,
                                                   std::unique_ptr<Transport> transport,
                                                   const Clock& clock) {
  if (!transport) return Status::InvalidArgument("mesh node: no transport");
  SHARDMESH_ASSIGN_OR_RETURN(std::unique_ptr<Membership> membership,
                             Membership::Create(options, *transport, clock));
  auto impl = std::make_unique<Impl>(std::move(options), std::move(transport),
                                     std::move(membership), clock);
  return std::unique_ptr<MeshNode>(new MeshNode(std::move(impl)));
}

MeshNode::MeshNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MeshNode::~MeshNode() = default;
Status MeshNode::Start(std::vector<std::string> seeds) { return impl_->Start(std::move(seeds)); }
Status MeshNode::Leave(Duration drain) { return impl_->Leave(drain); }
void MeshNode::Stop() { impl_->Stop(); }
MeshStatus MeshNode::Snapshot() const { return impl_->Snapshot(); }
std::vector<MemberInfo> MeshNode::Members() const { return impl_->Members(); }
std::vector<std::string> MeshNode::LiveMembers() const { return impl_->LiveMembers(); }
const std::string& MeshNode::name() const { return impl_->name(); }
const std::string& MeshNode::endpoint() const { return impl_->endpoint(); }
void MeshNode::SetEventHandler(std::function<void(const MembershipEvent&)> handler) {
  impl_->SetEventHandler(std::move(handler));
}
void MeshNode::SetMessageHandler(MessageType type, MessageHandler handler) {
  impl_->SetMessageHandler(type, std::move(handler));
}
void MeshNode::Post(std::function<void(Transport&)> task) { impl_->Post(std::move(task)); }
void MeshNode::SetStatusInfo(std::function<std::map<std::string, std::string>()> provider) {
  impl_->SetStatusInfo(std::move(provider));
}

}  // namespace shardmesh::mesh
