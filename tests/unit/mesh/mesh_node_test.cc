// MeshNode over real ZeroMQ transports on 127.0.0.1 with ephemeral ports: the event loop joins,
// answers status requests, runs posted tasks and registered handlers, and leaves. Waits are
// bounded polling loops (10 s deadline), never fixed sleeps.
#include "shardmesh/mesh/mesh_node.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "shardmesh/mesh/status_client.h"
#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

bool Eventually(const std::function<bool()>& condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

std::unique_ptr<MeshNode> MakeNode(const std::string& name) {
  auto transport = ZmqTransport::Create(ZmqTransportOptions{});
  EXPECT_TRUE(transport.ok()) << transport.status().ToString();
  MeshOptions options = MeshOptions::Local();
  options.name = name;
  auto node = MeshNode::Create(options, std::move(transport).value());
  EXPECT_TRUE(node.ok()) << node.status().ToString();
  return std::move(node).value();
}

std::size_t AliveCount(const MeshNode& node) {
  std::size_t n = 0;
  for (const auto& m : node.Members()) n += (m.state == MemberState::kAlive);
  return n;
}

class MeshNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = MakeNode("a");
    b_ = MakeNode("b");
    ASSERT_TRUE(a_->Start({}).ok());
    ASSERT_TRUE(b_->Start({a_->endpoint()}).ok());
    ASSERT_TRUE(Eventually([&] { return AliveCount(*a_) == 2 && AliveCount(*b_) == 2; }));
  }
  std::unique_ptr<MeshNode> a_, b_;
};

TEST_F(MeshNodeTest, SnapshotShowsBothMembersAgreementAndAllPartitions) {
  ASSERT_TRUE(Eventually([&] { return a_->Snapshot().agreed; }));
  const MeshStatus s = a_->Snapshot();
  EXPECT_EQ(s.self, "a");
  ASSERT_EQ(s.members.size(), 2u);
  std::uint32_t total = 0;
  for (const auto& [name, count] : s.partitions) total += count;
  EXPECT_EQ(total, MeshOptions::Local().partitions);
  EXPECT_EQ(s.ring_digest, b_->Snapshot().ring_digest);
}

TEST_F(MeshNodeTest, AnswersStatusRequestsOverTheWire) {
  auto status = QueryMeshStatus(b_->endpoint(), std::chrono::seconds(5));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_EQ(status->self, "b");
  EXPECT_EQ(status->members.size(), 2u);
}

TEST_F(MeshNodeTest, StatusCarriesTheApplicationsNodeInfo) {
  b_->SetStatusInfo([] {
    return std::map<std::string, std::string>{
        {"disk_bytes", "42"}, {"delta", "-3"}, {"epoch_state", "running"}, {"id", "007"}};
  });
  auto status = QueryMeshStatus(b_->endpoint(), std::chrono::seconds(5));
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ(status->node_info.at("disk_bytes"), "42");
  EXPECT_NE(MeshStatusToTable(*status).find("disk_bytes: 42"), std::string::npos);
  // `status --json` gives integers as JSON numbers, other values as strings.
  const std::string json = MeshStatusToJson(*status);
  EXPECT_NE(json.find("\"disk_bytes\":42"), std::string::npos) << json;
  EXPECT_NE(json.find("\"delta\":-3"), std::string::npos) << json;
  EXPECT_NE(json.find("\"epoch_state\":\"running\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"id\":\"007\""), std::string::npos) << json;
  auto back = MeshStatusFromJson(json);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->node_info, status->node_info);
}

// Bytes that are not UTF-8 (a peer's name, a path) reach the status reply as U+FFFD: the JSON
// encoder threw on them, on the node's loop thread, and the worker died of a status query.
TEST_F(MeshNodeTest, StatusWithBytesThatAreNotUtf8IsAnsweredNotACrash) {
  b_->SetStatusInfo([] {
    return std::map<std::string, std::string>{{"dataset",
                                               "/data/bad\xff"
                                               "dir"}};
  });
  auto status = QueryMeshStatus(b_->endpoint(), std::chrono::seconds(5));
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ(status->node_info.at("dataset"),
            "/data/bad\xef\xbf\xbd"
            "dir");
  EXPECT_EQ(status->members.size(), 2u);
}

TEST_F(MeshNodeTest, PostedTasksRunOnTheLoopAndHandlersReceiveTheirType) {
  std::atomic<int> received{0};
  b_->SetMessageHandler(MessageType::kUser, [&](const Envelope& e, Transport&) {
    if (e.header.sender == "a" && e.payload.chars() == "hello") ++received;
  });
  const std::string to = b_->endpoint();
  a_->Post([to](Transport& t) {
    Envelope e;
    e.header.type = MessageType::kUser;
    e.header.sender = "a";
    e.payload = SharedBytes::FromString("hello");
    (void)t.Send(to, e);
  });
  EXPECT_TRUE(Eventually([&] { return received.load() == 1; }));
}

TEST_F(MeshNodeTest, HandlersMayCallBackIntoTheNode) {
  // Handlers run without the node's lock: a handler reading the node's own view must not
  // deadlock the loop.
  std::atomic<std::size_t> members_seen{0};
  b_->SetMessageHandler(MessageType::kUser, [&](const Envelope&, Transport&) {
    members_seen = b_->Snapshot().members.size() + b_->LiveMembers().size();
  });
  std::atomic<int> events{0};
  b_->SetEventHandler([&](const MembershipEvent&) {
    (void)b_->Members();
    ++events;
  });
  const std::string to = b_->endpoint();
  a_->Post([to](Transport& t) {
    Envelope e;
    e.header.type = MessageType::kUser;
    e.header.sender = "a";
    (void)t.Send(to, e);
  });
  EXPECT_TRUE(Eventually([&] { return members_seen.load() == 4; }));
  // A third member joining raises events on b.
  std::unique_ptr<MeshNode> c = MakeNode("c");
  ASSERT_TRUE(c->Start({b_->endpoint()}).ok());
  EXPECT_TRUE(Eventually([&] { return events.load() > 0 && AliveCount(*b_) == 3; }));
}

TEST_F(MeshNodeTest, ReplacingAHandlerWaitsForItsCallInProgress) {
  // Owners clear their handler before they go away, so a replaced handler must not be running
  // once SetMessageHandler returns.
  std::atomic<bool> in_handler{false}, release{false}, setter_returned{false};
  std::atomic<bool> returned_while_running{false};
  b_->SetMessageHandler(MessageType::kUser, [&](const Envelope&, Transport&) {
    in_handler = true;
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!release && std::chrono::steady_clock::now() < limit) std::this_thread::yield();
    if (setter_returned) returned_while_running = true;
    in_handler = false;
  });
  const std::string to = b_->endpoint();
  a_->Post([to](Transport& t) {
    Envelope e;
    e.header.type = MessageType::kUser;
    e.header.sender = "a";
    (void)t.Send(to, e);
  });
  ASSERT_TRUE(Eventually([&] { return in_handler.load(); }));
  std::thread setter([&] {
    b_->SetMessageHandler(MessageType::kUser, nullptr);
    setter_returned = true;
  });
  // Give a wrong implementation time to return early; a right one cannot.
  std::this_thread::sleep_for(milliseconds(50));
  release = true;
  setter.join();
  EXPECT_TRUE(setter_returned.load());
  EXPECT_FALSE(returned_while_running.load());
}

// Counts Wake() calls on the way to a real transport.
class WakeCountingTransport final : public Transport {
 public:
  WakeCountingTransport(std::unique_ptr<Transport> inner, std::atomic<int>& wakes)
      : inner_(std::move(inner)), wakes_(wakes) {}
  const std::string& endpoint() const override { return inner_->endpoint(); }
  Status Send(const std::string& to, const Envelope& e) override { return inner_->Send(to, e); }
  std::optional<Envelope> Receive(Duration timeout) override { return inner_->Receive(timeout); }
  void Wake() override {
    ++wakes_;
    inner_->Wake();
  }

 private:
  std::unique_ptr<Transport> inner_;
  std::atomic<int>& wakes_;
};

TEST(MeshNodeWakeTest, PostAndStopWakeTheTransport) {
  std::atomic<int> wakes{0};
  auto zmq = ZmqTransport::Create(ZmqTransportOptions{});
  ASSERT_TRUE(zmq.ok()) << zmq.status().ToString();
  MeshOptions options = MeshOptions::Local();
  options.name = "solo";
  auto node = MeshNode::Create(
      options, std::make_unique<WakeCountingTransport>(std::move(zmq).value(), wakes));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  ASSERT_TRUE((*node)->Start({}).ok());
  std::atomic<bool> ran{false};
  (*node)->Post([&](Transport&) { ran = true; });
  EXPECT_TRUE(Eventually([&] { return ran.load(); }));
  EXPECT_GE(wakes.load(), 1);
  const int before_stop = wakes.load();
  (*node)->Stop();
  EXPECT_GT(wakes.load(), before_stop);
}

TEST_F(MeshNodeTest, LeaveIsSeenAsLeftByThePeer) {
  ASSERT_TRUE(b_->Leave(milliseconds(200)).ok());
  EXPECT_TRUE(Eventually([&] {
    for (const auto& m : a_->Members())
      if (m.name == "b") return m.state == MemberState::kLeft;
    return false;
  }));
  EXPECT_FALSE(b_->Leave(milliseconds(0)).ok()) << "a stopped node cannot leave twice";
}

TEST_F(MeshNodeTest, StopWithoutLeaveLooksLikeACrash) {
  b_->Stop();
  b_->Stop();  // safe twice
  EXPECT_TRUE(Eventually([&] {
    for (const auto& m : a_->Members())
      if (m.name == "b") return m.state == MemberState::kDead;
    return false;
  }));
}

}  // namespace
}  // namespace shardmesh::mesh
