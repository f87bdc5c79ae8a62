#include "shardmesh/mesh/sim_network.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

Envelope MakeEnvelope(const std::string& sender, std::uint64_t seq) {
  Envelope e;
  e.header.type = MessageType::kPing;
  e.header.sender = sender;
  e.header.sender_endpoint = "sim://" + sender;
  e.header.incarnation = seq;  // the tests use incarnation as a message id
  e.payload = SharedBytes::FromString("payload-" + std::to_string(seq));
  return e;
}

class SimNetworkTest : public ::testing::Test {
 protected:
  SimNetworkTest() : net_(42, clock_) {}

  std::vector<std::uint64_t> Drain(Transport& t) {
    std::vector<std::uint64_t> ids;
    while (auto e = t.Receive(Duration(0))) ids.push_back(e->header.incarnation);
    return ids;
  }

  // Sends `n` messages a->b, advances past every delay, returns how many arrived.
  std::size_t SendAndCount(Transport& a, Transport& b, int n) {
    for (int i = 0; i < n; ++i) EXPECT_TRUE(a.Send(b.endpoint(), MakeEnvelope("a", i)).ok());
    clock_.Advance(std::chrono::seconds(10));
    return Drain(b).size();
  }

  ManualClock clock_;
  SimNetwork net_;
};

TEST_F(SimNetworkTest, DeliversPayloadAndHeaderIntact) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 7)).ok());
  auto e = b->Receive(Duration(0));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->header.sender, "a");
  EXPECT_EQ(e->header.incarnation, 7u);
  EXPECT_EQ(e->payload.chars(), "payload-7");
  EXPECT_FALSE(b->Receive(Duration(0)).has_value());
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());
}

TEST_F(SimNetworkTest, DeliversAtTheSimulatedTimeNotBefore) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetDelay(milliseconds(50), Duration(0));
  const TimePoint sent_at = clock_.Now();
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 1)).ok());
  ASSERT_EQ(net_.NextDeliveryTime(), sent_at + milliseconds(50));
  clock_.Advance(milliseconds(49));
  EXPECT_FALSE(b->Receive(Duration(0)).has_value());
  EXPECT_EQ(net_.InFlight(), 1u);
  clock_.Advance(milliseconds(1));
  EXPECT_TRUE(b->Receive(Duration(0)).has_value());
  EXPECT_EQ(net_.InFlight(), 0u);
  EXPECT_FALSE(net_.NextDeliveryTime().has_value());
}

TEST_F(SimNetworkTest, JitterReordersMessages) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetDelay(milliseconds(1), milliseconds(100));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", i)).ok());
  clock_.Advance(milliseconds(101));
  const std::vector<std::uint64_t> got = Drain(*b);
  ASSERT_EQ(got.size(), 100u);
  EXPECT_FALSE(std::is_sorted(got.begin(), got.end()));
}

TEST_F(SimNetworkTest, DropRateIsStatisticallyRight) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetDropRate(0.3);
  const std::size_t delivered = SendAndCount(*a, *b, 10000);
  // Binomial(10000, 0.7): sd ~ 46, so +-250 is over 5 sigma.
  EXPECT_NEAR(static_cast<double>(delivered), 7000.0, 250.0);
  const SimStats total = net_.TotalStats();
  EXPECT_EQ(total.messages_sent, 10000u);
  EXPECT_EQ(total.messages_delivered, delivered);
  EXPECT_EQ(total.messages_dropped, 10000u - delivered);
  EXPECT_EQ(net_.NodeStats("sim://a").messages_dropped, 10000u - delivered);
  EXPECT_EQ(net_.NodeStats("sim://b").messages_delivered, delivered);
}

TEST_F(SimNetworkTest, LinkDropRateAffectsOnlyThatDirection) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetLinkDropRate("sim://a", "sim://b", 1.0);
  EXPECT_EQ(SendAndCount(*a, *b, 20), 0u);
  EXPECT_EQ(SendAndCount(*b, *a, 20), 20u);
  net_.SetLinkDropRate("sim://a", "sim://b", 0.0);
  EXPECT_EQ(SendAndCount(*a, *b, 20), 20u);
}

TEST_F(SimNetworkTest, DuplicationDeliversExtraCopies) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetDuplicateRate(0.5);
  const std::size_t delivered = SendAndCount(*a, *b, 2000);
  EXPECT_NEAR(static_cast<double>(delivered), 3000.0, 150.0);
  EXPECT_EQ(net_.TotalStats().messages_duplicated, delivered - 2000);
}

TEST_F(SimNetworkTest, PartitionSplitsGroupsAndHealRestores) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  auto c = net_.Attach("sim://c");
  auto d = net_.Attach("sim://d");  // in no group: alone in the "unlisted" group
  net_.Partition({{"sim://a", "sim://b"}, {"sim://c"}});
  EXPECT_EQ(SendAndCount(*a, *b, 5), 5u);
  EXPECT_EQ(SendAndCount(*a, *c, 5), 0u);
  EXPECT_EQ(SendAndCount(*c, *a, 5), 0u);
  EXPECT_EQ(SendAndCount(*d, *c, 5), 0u);
  net_.Heal();
  EXPECT_EQ(SendAndCount(*a, *c, 5), 5u);
  EXPECT_EQ(SendAndCount(*d, *c, 5), 5u);
}

TEST_F(SimNetworkTest, PartitionDropsMessagesAlreadyInFlight) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.SetDelay(milliseconds(10), Duration(0));
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 1)).ok());
  net_.Partition({{"sim://a"}, {"sim://b"}});
  clock_.Advance(milliseconds(10));
  EXPECT_FALSE(b->Receive(Duration(0)).has_value());
  EXPECT_EQ(net_.TotalStats().messages_dropped, 1u);
}

TEST_F(SimNetworkTest, BlockedLinkIsOneWay) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  net_.BlockLink("sim://a", "sim://b");
  EXPECT_EQ(SendAndCount(*a, *b, 5), 0u);
  EXPECT_EQ(SendAndCount(*b, *a, 5), 5u);
  net_.UnblockLink("sim://a", "sim://b");
  EXPECT_EQ(SendAndCount(*a, *b, 5), 5u);
}

TEST_F(SimNetworkTest, DownNodeNeitherSendsNorReceivesAndLosesItsInbox) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 1)).ok());
  net_.Down("sim://b");
  EXPECT_TRUE(net_.IsDown("sim://b"));
  EXPECT_EQ(SendAndCount(*a, *b, 5), 0u);
  EXPECT_EQ(SendAndCount(*b, *a, 5), 0u);
  net_.Up("sim://b");
  EXPECT_FALSE(net_.IsDown("sim://b"));
  EXPECT_TRUE(Drain(*b).empty()) << "a crashed node's inbox must not survive";
  EXPECT_EQ(SendAndCount(*a, *b, 5), 5u);
  EXPECT_EQ(SendAndCount(*b, *a, 5), 5u);
}

TEST_F(SimNetworkTest, UnknownDestinationIsDroppedNotAnError) {
  auto a = net_.Attach("sim://a");
  EXPECT_TRUE(a->Send("sim://nobody", MakeEnvelope("a", 1)).ok());
  EXPECT_EQ(net_.TotalStats().messages_dropped, 1u);
}

TEST_F(SimNetworkTest, ProcessingDelaySlowsOnlyThatNode) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  auto c = net_.Attach("sim://c");
  net_.SetProcessingDelay("sim://b", milliseconds(200));
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 1)).ok());
  ASSERT_TRUE(a->Send("sim://c", MakeEnvelope("a", 2)).ok());
  EXPECT_TRUE(c->Receive(Duration(0)).has_value());
  EXPECT_FALSE(b->Receive(Duration(0)).has_value());
  clock_.Advance(milliseconds(200));
  EXPECT_TRUE(b->Receive(Duration(0)).has_value());
}

TEST_F(SimNetworkTest, ReattachStartsEmptyAndDetachesTheOldTransport) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 1)).ok());
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());  // moves the due message into b's inbox
  auto b2 = net_.Attach("sim://b");
  EXPECT_FALSE(b2->Receive(Duration(0)).has_value());
  EXPECT_TRUE(b->Send("sim://a", MakeEnvelope("b", 1)).IsUnavailable());
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 2)).ok());
  EXPECT_FALSE(b->Receive(Duration(0)).has_value());
  EXPECT_TRUE(b2->Receive(Duration(0)).has_value());
  b.reset();  // destroying the stale transport must not detach the new one
  ASSERT_TRUE(a->Send("sim://b", MakeEnvelope("a", 3)).ok());
  EXPECT_TRUE(b2->Receive(Duration(0)).has_value());
}

TEST_F(SimNetworkTest, StatsCountWireBytes) {
  auto a = net_.Attach("sim://a");
  auto b = net_.Attach("sim://b");
  const Envelope e = MakeEnvelope("a", 1);
  ASSERT_TRUE(a->Send("sim://b", e).ok());
  const std::uint64_t expected = EncodeHeader(e.header).size() + e.payload.size();
  ASSERT_TRUE(b->Receive(Duration(0)).has_value());
  EXPECT_EQ(net_.NodeStats("sim://a").bytes_sent, expected);
  EXPECT_EQ(net_.NodeStats("sim://b").bytes_delivered, expected);
  net_.ResetStats();
  EXPECT_EQ(net_.TotalStats().messages_sent, 0u);
}

// Runs a lossy, jittery, duplicating all-to-all exchange and returns the delivery trace.
std::vector<std::string> RunTrace(std::uint64_t seed) {
  ManualClock clock;
  SimNetwork net(seed, clock);
  net.SetDropRate(0.2);
  net.SetDuplicateRate(0.1);
  net.SetDelay(milliseconds(1), milliseconds(20));
  std::vector<std::unique_ptr<Transport>> nodes;
  for (int i = 0; i < 8; ++i) nodes.push_back(net.Attach("sim://n" + std::to_string(i)));
  std::vector<std::string> trace;
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::string to = nodes[(i + round + 1) % nodes.size()]->endpoint();
      EXPECT_TRUE(nodes[i]->Send(to, MakeEnvelope("n" + std::to_string(i), round)).ok());
    }
    clock.Advance(milliseconds(5));
    for (auto& node : nodes) {
      while (auto e = node->Receive(Duration(0))) {
        trace.push_back(node->endpoint() + "<-" + e->header.sender + "#" +
                        std::to_string(e->header.incarnation));
      }
    }
  }
  return trace;
}

TEST_F(SimNetworkTest, SameSeedGivesTheSameTrace) {
  const auto first = RunTrace(7);
  EXPECT_FALSE(first.empty());
  EXPECT_EQ(first, RunTrace(7));
  EXPECT_NE(first, RunTrace(8));
}

TEST_F(SimNetworkTest, ThousandNodesExchangeQuickly) {
  std::vector<std::unique_ptr<Transport>> nodes;
  for (int i = 0; i < 1000; ++i) nodes.push_back(net_.Attach("sim://n" + std::to_string(i)));
  net_.SetDelay(milliseconds(1), milliseconds(5));
  std::size_t received = 0;
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      ASSERT_TRUE(
          nodes[i]->Send(nodes[(i * 7 + round + 1) % 1000]->endpoint(), MakeEnvelope("n", i)).ok());
    }
    clock_.Advance(milliseconds(10));
    for (auto& node : nodes) {
      while (node->Receive(Duration(0))) ++received;
    }
  }
  EXPECT_EQ(received, 20000u);
}

}  // namespace
}  // namespace shardmesh::mesh
