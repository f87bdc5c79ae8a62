#include "shardmesh/mesh/fault_transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "shardmesh/mesh/sim_network.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

Envelope From(const std::string& name, std::uint64_t id) {
  Envelope e;
  e.header.sender = name;
  e.header.sender_endpoint = "sim://" + name;
  e.header.incarnation = id;
  e.payload = SharedBytes::FromString("x");
  return e;
}

FaultOptions DropOptions(double rate) {
  FaultOptions o;
  o.drop_rate = rate;
  return o;
}
FaultOptions DelayOptions(Duration delay) {
  FaultOptions o;
  o.delay = delay;
  return o;
}
FaultOptions CutOptions(std::vector<std::string> peers) {
  FaultOptions o;
  o.partition_from = std::move(peers);
  return o;
}

class FaultTransportTest : public ::testing::Test {
 protected:
  FaultTransportTest() : net_(1, clock_) {}

  // Wraps a fresh node `name` in a FaultTransport with `options`.
  std::unique_ptr<FaultTransport> Faulty(const std::string& name, FaultOptions options) {
    return std::make_unique<FaultTransport>(net_.Attach("sim://" + name), std::move(options),
                                            clock_, 99);
  }

  static std::size_t Drain(Transport& t) {
    std::size_t n = 0;
    while (t.Receive(Duration(0))) ++n;
    return n;
  }

  ManualClock clock_;
  SimNetwork net_;
};

TEST_F(FaultTransportTest, NoFaultsPassesEverythingThrough) {
  auto a = Faulty("a", {});
  auto b = net_.Attach("sim://b");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(a->Send("sim://b", From("a", i)).ok());
  EXPECT_EQ(Drain(*b), 10u);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b->Send("sim://a", From("b", i)).ok());
  EXPECT_EQ(Drain(*a), 10u);
  EXPECT_EQ(a->endpoint(), "sim://a");
}

TEST_F(FaultTransportTest, DropRateAppliesToSendsAndReceives) {
  auto a = Faulty("a", DropOptions(0.5));
  auto b = net_.Attach("sim://b");
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(a->Send("sim://b", From("a", i)).ok());
  const std::size_t out = Drain(*b);
  EXPECT_NEAR(static_cast<double>(out), 2000.0, 200.0);
  EXPECT_EQ(a->stats().dropped_outgoing, 4000u - out);
  for (int i = 0; i < 4000; ++i) ASSERT_TRUE(b->Send("sim://a", From("b", i)).ok());
  const std::size_t in = Drain(*a);
  EXPECT_NEAR(static_cast<double>(in), 2000.0, 200.0);
  EXPECT_EQ(a->stats().dropped_incoming, 4000u - in);
}

TEST_F(FaultTransportTest, DelayHoldsOutgoingUntilDueAndFlushesOnAnyCall) {
  auto a = Faulty("a", DelayOptions(milliseconds(100)));
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", From("a", 1)).ok());
  EXPECT_EQ(a->held(), 1u);
  clock_.Advance(milliseconds(99));
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());
  EXPECT_EQ(Drain(*b), 0u);
  clock_.Advance(milliseconds(1));
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());  // flushes
  EXPECT_EQ(a->held(), 0u);
  EXPECT_EQ(Drain(*b), 1u);
  EXPECT_EQ(a->stats().delayed, 1u);
}

TEST_F(FaultTransportTest, DelayKeepsSendOrder) {
  auto a = Faulty("a", DelayOptions(milliseconds(10)));
  auto b = net_.Attach("sim://b");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a->Send("sim://b", From("a", i)).ok());
  clock_.Advance(milliseconds(10));
  (void)a->Receive(Duration(0));
  for (std::uint64_t i = 0; i < 5; ++i) {
    auto e = b->Receive(Duration(0));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->header.incarnation, i);
  }
}

TEST_F(FaultTransportTest, PartitionFromByNameCutsBothDirections) {
  auto a = Faulty("a", CutOptions({"b"}));
  auto b = net_.Attach("sim://b");
  auto c = net_.Attach("sim://c");
  ASSERT_TRUE(b->Send("sim://a", From("b", 1)).ok());
  ASSERT_TRUE(c->Send("sim://a", From("c", 1)).ok());
  auto e = a->Receive(Duration(0));
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->header.sender, "c");
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());
  // Having heard b's endpoint, a also stops sending to it.
  ASSERT_TRUE(a->Send("sim://b", From("a", 2)).ok());
  ASSERT_TRUE(a->Send("sim://c", From("a", 2)).ok());
  EXPECT_EQ(Drain(*b), 0u);
  EXPECT_EQ(Drain(*c), 1u);
  EXPECT_EQ(a->stats().partitioned_incoming, 1u);
  EXPECT_EQ(a->stats().partitioned_outgoing, 1u);
}

TEST_F(FaultTransportTest, PartitionFromByEndpointCutsSendsAtOnce) {
  auto a = Faulty("a", CutOptions({"sim://b"}));
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", From("a", 1)).ok());
  EXPECT_EQ(Drain(*b), 0u);
  ASSERT_TRUE(b->Send("sim://a", From("b", 1)).ok());
  EXPECT_EQ(Drain(*a), 0u);
}

TEST_F(FaultTransportTest, SettersChangeFaultsAtRunTime) {
  auto a = Faulty("a", CutOptions({"sim://b"}));
  auto b = net_.Attach("sim://b");
  a->SetPartitionFrom({});
  ASSERT_TRUE(a->Send("sim://b", From("a", 1)).ok());
  EXPECT_EQ(Drain(*b), 1u);
  a->SetDropRate(1.0);
  ASSERT_TRUE(a->Send("sim://b", From("a", 2)).ok());
  EXPECT_EQ(Drain(*b), 0u);
  a->SetDropRate(0.0);
  a->SetDelay(milliseconds(5));
  ASSERT_TRUE(a->Send("sim://b", From("a", 3)).ok());
  EXPECT_EQ(Drain(*b), 0u);
  clock_.Advance(milliseconds(5));
  ASSERT_TRUE(a->Send("sim://b", From("a", 4)).ok());  // flushes the held one first
  EXPECT_EQ(Drain(*b), 1u);
}

TEST_F(FaultTransportTest, PartitionSetWhileHeldStillApplies) {
  auto a = Faulty("a", DelayOptions(milliseconds(5)));
  auto b = net_.Attach("sim://b");
  ASSERT_TRUE(a->Send("sim://b", From("a", 1)).ok());
  a->SetPartitionFrom({"sim://b"});
  clock_.Advance(milliseconds(5));
  (void)a->Receive(Duration(0));
  EXPECT_EQ(Drain(*b), 0u);
}

}  // namespace
}  // namespace shardmesh::mesh
