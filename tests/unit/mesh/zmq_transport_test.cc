// ZmqTransport over real sockets, 127.0.0.1 and ephemeral ports only. Waits are bounded polling
// loops (5 s deadline), never fixed sleeps.
#include "shardmesh/mesh/zmq_transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kDeadline = seconds(5);

Envelope Make(const std::string& sender, MessageType type, std::string payload) {
  Envelope e;
  e.header.type = type;
  e.header.sender = sender;
  e.header.incarnation = 3;
  e.payload = SharedBytes::FromString(std::move(payload));
  return e;
}

// Receives until an envelope arrives or the deadline passes.
std::optional<Envelope> ReceiveWithin(Transport& t, Duration limit = kDeadline) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto e = t.Receive(milliseconds(50))) return e;
  }
  return std::nullopt;
}

class ZmqTransportTest : public ::testing::Test {
 protected:
  static std::unique_ptr<ZmqTransport> MakeTransport(ZmqTransportOptions options = {},
                                                     const Clock& clock = SystemClock::Instance()) {
    options.bind = "tcp://127.0.0.1:0";
    options.linger = milliseconds(0);
    auto t = ZmqTransport::Create(std::move(options), clock);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
};

TEST_F(ZmqTransportTest, BindsAnEphemeralPortAndReportsIt) {
  auto t = MakeTransport();
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->endpoint().rfind("tcp://127.0.0.1:", 0), 0u) << t->endpoint();
  EXPECT_NE(t->endpoint(), "tcp://127.0.0.1:0");
  EXPECT_EQ(t->endpoint().find('*'), std::string::npos);
}

TEST_F(ZmqTransportTest, AdvertiseOverridesTheReportedEndpoint) {
  ZmqTransportOptions options;
  options.advertise = "tcp://10.1.2.3:7001";
  auto t = MakeTransport(options);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->endpoint(), "tcp://10.1.2.3:7001");
}

TEST_F(ZmqTransportTest, BindingATakenPortFailsWithIOError) {
  auto a = MakeTransport();
  ASSERT_NE(a, nullptr);
  ZmqTransportOptions options;
  options.bind = a->endpoint();
  auto b = ZmqTransport::Create(options);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsIOError()) << b.status().ToString();
  EXPECT_NE(b.status().message().find(a->endpoint()), std::string::npos);
}

TEST_F(ZmqTransportTest, WakeFromAnotherThreadEndsALongReceive) {
  auto a = MakeTransport();
  ASSERT_TRUE(a);
  using Steady = std::chrono::steady_clock;
  const Steady::time_point start = Steady::now();
  auto waiting = std::async(std::launch::async, [&] { return a->Receive(seconds(60)); });
  // Before or during the Receive: either way it must end long before its 60 s.
  std::thread([&] { a->Wake(); }).join();
  ASSERT_EQ(waiting.wait_for(seconds(20)), std::future_status::ready);
  EXPECT_FALSE(waiting.get().has_value());
  EXPECT_LT(Steady::now() - start, seconds(20));
}

TEST_F(ZmqTransportTest, WakeUpsCoalesceIntoOneAndNeverSwallowAMessage) {
  auto a = MakeTransport();
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  using Steady = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) b->Wake();
  Steady::time_point start = Steady::now();
  EXPECT_FALSE(b->Receive(seconds(30)).has_value());
  EXPECT_LT(Steady::now() - start, seconds(10)) << "a pending wake-up ends the wait";
  start = Steady::now();
  EXPECT_FALSE(b->Receive(milliseconds(200)).has_value());
  EXPECT_GE(Steady::now() - start, milliseconds(150)) << "three wake-ups end one wait, not three";

  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "after")).ok());
  b->Wake();
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload.chars(), "after");
}

TEST_F(ZmqTransportTest, TwoTransportsExchangeEnvelopesBothWays) {
  auto a = MakeTransport();
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "hello")).ok());
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->header.sender, "a");
  EXPECT_EQ(got->header.type, MessageType::kPing);
  EXPECT_EQ(got->header.incarnation, 3u);
  EXPECT_EQ(got->header.sender_endpoint, a->endpoint()) << "empty sender_endpoint is filled";
  EXPECT_EQ(got->payload.chars(), "hello");

  ASSERT_TRUE(b->Send(got->header.sender_endpoint, Make("b", MessageType::kAck, "world")).ok());
  auto reply = ReceiveWithin(*a);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->header.sender, "b");
  EXPECT_EQ(reply->header.type, MessageType::kAck);
  EXPECT_EQ(reply->payload.chars(), "world");
  EXPECT_EQ(a->stats().messages_sent, 1u);
  EXPECT_EQ(a->stats().messages_received, 1u);
}

TEST_F(ZmqTransportTest, FourMebibytePayloadArrivesIntact) {
  auto a = MakeTransport();
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  std::vector<std::uint8_t> data(4u << 20);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  Envelope e = Make("a", MessageType::kBlockResponse, "");
  e.payload = SharedBytes::FromVector(data);
  ASSERT_TRUE(a->Send(b->endpoint(), e).ok());
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->payload.size(), data.size());
  EXPECT_EQ(std::memcmp(got->payload.data(), data.data(), data.size()), 0);
}

TEST_F(ZmqTransportTest, AttachmentTravelsAsItsOwnFrameBesideThePayload) {
  auto a = MakeTransport();
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  std::vector<std::uint8_t> data(100000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 31 + 3);
  Envelope e = Make("a", MessageType::kBlockResponse, "meta");
  e.attachment = SharedBytes::FromVector(data);
  ASSERT_TRUE(a->Send(b->endpoint(), e).ok());
  // A message without an attachment right after: it must arrive with an empty one.
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kUser, "plain")).ok());
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload.chars(), "meta");
  ASSERT_EQ(got->attachment.size(), data.size());
  EXPECT_EQ(std::memcmp(got->attachment.data(), data.data(), data.size()), 0);
  auto plain = ReceiveWithin(*b);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->payload.chars(), "plain");
  EXPECT_TRUE(plain->attachment.empty());
  EXPECT_EQ(b->stats().malformed_dropped, 0u);
}

TEST_F(ZmqTransportTest, OversizedPayloadIsRefusedOnSend) {
  ZmqTransportOptions options;
  options.max_message_bytes = 1024;
  auto a = MakeTransport(options);
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  Status s = a->Send(b->endpoint(), Make("a", MessageType::kUser, std::string(1025, 'x')));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("max_message_bytes"), std::string::npos);
  EXPECT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kUser, std::string(1024, 'x'))).ok());
  EXPECT_TRUE(ReceiveWithin(*b).has_value());
  EXPECT_EQ(a->stats().messages_sent, 1u);
}

TEST_F(ZmqTransportTest, OversizedInboundMessageIsNotDelivered) {
  ZmqTransportOptions small;
  small.max_message_bytes = 1024;
  auto b = MakeTransport(small);
  auto a = MakeTransport();  // default limit: willing to send 64 KiB
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kUser, std::string(65536, 'x'))).ok());
  EXPECT_FALSE(ReceiveWithin(*b, milliseconds(500)).has_value());
  // Another peer is still heard.
  auto c = MakeTransport();
  ASSERT_TRUE(c->Send(b->endpoint(), Make("c", MessageType::kUser, "small")).ok());
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->header.sender, "c");
}

TEST_F(ZmqTransportTest, GarbageFromARawDealerIsDroppedAndTransportKeepsWorking) {
  auto b = MakeTransport();
  ASSERT_NE(b, nullptr);
  zmq::context_t ctx(1);
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(b->endpoint());
  // One frame only.
  raw.send(zmq::str_buffer("garbage"), zmq::send_flags::none);
  // Two frames, the header not msgpack.
  raw.send(zmq::str_buffer("\xc1\xc1\xc1"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("payload"), zmq::send_flags::none);
  // A valid header but four frames (header, payload, attachment and one too many).
  EnvelopeHeader h;
  h.sender = "raw";
  const std::string header = EncodeHeader(h);
  raw.send(zmq::buffer(header), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("p"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("attachment"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("extra"), zmq::send_flags::none);
  // An empty header frame.
  raw.send(zmq::message_t(), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("p"), zmq::send_flags::none);
  // Finally a well-formed message.
  raw.send(zmq::buffer(header), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("good"), zmq::send_flags::none);

  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->header.sender, "raw");
  EXPECT_EQ(got->payload.chars(), "good");
  EXPECT_EQ(b->stats().malformed_dropped, 4u);
  EXPECT_FALSE(b->Receive(milliseconds(50)).has_value());

  auto a = MakeTransport();
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "after")).ok());
  auto after = ReceiveWithin(*b);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->payload.chars(), "after");
}

TEST_F(ZmqTransportTest, DropWarningsAreRateLimitedPerKind) {
  ManualClock clock;
  auto b = MakeTransport({}, clock);
  ASSERT_NE(b, nullptr);
  zmq::context_t ctx(1);
  zmq::socket_t raw(ctx, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(b->endpoint());
  for (int i = 0; i < 20; ++i) raw.send(zmq::str_buffer("one frame"), zmq::send_flags::none);
  raw.send(zmq::str_buffer("bad header"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("p"), zmq::send_flags::none);
  // Nothing valid arrives, so wait on the drop counter rather than on a message.
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (b->stats().malformed_dropped < 21 && std::chrono::steady_clock::now() < deadline) {
    (void)b->Receive(milliseconds(20));
  }
  EXPECT_EQ(b->stats().malformed_dropped, 21u);
  EXPECT_EQ(b->stats().warnings_logged, 2u) << "one per kind (frames, header) per second";
  clock.Advance(seconds(1));
  raw.send(zmq::str_buffer("one frame"), zmq::send_flags::none);
  while (b->stats().malformed_dropped < 22 && std::chrono::steady_clock::now() < deadline) {
    (void)b->Receive(milliseconds(20));
  }
  EXPECT_EQ(b->stats().warnings_logged, 3u);
}

TEST_F(ZmqTransportTest, IdleDealersAreClosedAndReopenedOnDemand) {
  ManualClock clock;
  ZmqTransportOptions options;
  options.idle_peer_timeout = seconds(10);
  auto a = MakeTransport(options, clock);
  auto b = MakeTransport();
  auto c = MakeTransport();
  ASSERT_TRUE(a && b && c);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "1")).ok());
  // Receive first: the test's linger of 0 would discard a message still queued at close.
  ASSERT_TRUE(ReceiveWithin(*b).has_value());
  clock.Advance(seconds(6));
  ASSERT_TRUE(a->Send(c->endpoint(), Make("a", MessageType::kPing, "1")).ok());
  EXPECT_EQ(a->open_peer_count(), 2u);
  clock.Advance(seconds(5));  // b idle for 11 s, c for 5 s
  EXPECT_FALSE(a->Receive(Duration(0)).has_value());
  EXPECT_EQ(a->open_peer_count(), 1u);
  EXPECT_EQ(a->stats().peers_closed, 1u);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "2")).ok());
  EXPECT_EQ(a->open_peer_count(), 2u);
  auto got = ReceiveWithin(*b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload.chars(), "2");
}

TEST_F(ZmqTransportTest, OpeningPastMaxOpenPeersEvictsTheLeastRecentlyUsed) {
  ManualClock clock;
  ZmqTransportOptions options;
  options.max_open_peers = 2;
  auto a = MakeTransport(options, clock);
  auto b = MakeTransport();
  auto c = MakeTransport();
  auto d = MakeTransport();
  ASSERT_TRUE(a && b && c && d);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "")).ok());
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(a->Send(c->endpoint(), Make("a", MessageType::kPing, "")).ok());
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "")).ok());  // c is now LRU
  clock.Advance(milliseconds(1));
  ASSERT_TRUE(a->Send(d->endpoint(), Make("a", MessageType::kPing, "")).ok());
  EXPECT_EQ(a->open_peer_count(), 2u);
  EXPECT_EQ(a->stats().peers_opened, 3u);
  EXPECT_EQ(a->stats().peers_closed, 1u);
}

TEST_F(ZmqTransportTest, FullQueueToAnUnreachablePeerIsUnavailableNotBlocking) {
  std::string gone;
  {
    auto b = MakeTransport();
    ASSERT_NE(b, nullptr);
    gone = b->endpoint();
  }  // closed: nothing listens there any more
  ZmqTransportOptions options;
  options.send_high_water_mark = 4;
  auto a = MakeTransport(options);
  ASSERT_NE(a, nullptr);
  Status last;
  int accepted = 0;
  for (int i = 0; i < 10000 && last.ok(); ++i) {
    last = a->Send(gone, Make("a", MessageType::kPing, "x"));
    if (last.ok()) ++accepted;
  }
  EXPECT_TRUE(last.IsUnavailable()) << last.ToString();
  EXPECT_NE(last.message().find(gone), std::string::npos);
  EXPECT_GE(accepted, 1);
  EXPECT_LE(accepted, 100) << "the high water mark must bound the queue";
  EXPECT_EQ(a->stats().send_would_block, 1u);
}

TEST_F(ZmqTransportTest, MalformedEndpointIsInvalidArgument) {
  auto a = MakeTransport();
  ASSERT_NE(a, nullptr);
  Status s = a->Send("no-such-scheme", Make("a", MessageType::kPing, ""));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("no-such-scheme"), std::string::npos);
}

TEST_F(ZmqTransportTest, CloseIsIdempotentAndLaterCallsFailCleanly) {
  auto a = MakeTransport();
  auto b = MakeTransport();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "")).ok());
  a->Close();
  a->Close();
  EXPECT_TRUE(a->Send(b->endpoint(), Make("a", MessageType::kPing, "")).IsUnavailable());
  EXPECT_FALSE(a->Receive(milliseconds(1)).has_value());
}

TEST_F(ZmqTransportTest, InvalidOptionsAreRejected) {
  ZmqTransportOptions options;
  options.max_message_bytes = 0;
  auto t = ZmqTransport::Create(options);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("max_message_bytes"), std::string::npos);
}

}  // namespace
}  // namespace shardmesh::mesh
