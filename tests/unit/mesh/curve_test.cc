// CurveZMQ keys and the authenticated mesh: real sockets on 127.0.0.1, ephemeral ports,
// bounded polling loops.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "shardmesh/mesh/curve_keys.h"
#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;

Envelope Make(const std::string& sender) {
  Envelope e;
  e.header.sender = sender;
  e.payload = SharedBytes::FromString("from " + sender);
  return e;
}

class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CurveAvailable()) GTEST_SKIP() << "libzmq built without CURVE";
    server_ = *GenerateCurveKeyPair();
  }

  CurveKeyPair NewPair() { return *GenerateCurveKeyPair(); }

  // A mesh member with client keys `own`, admitting `allowed`.
  ZmqTransportOptions Member(const CurveKeyPair& own, std::vector<std::string> allowed) {
    ZmqTransportOptions o;
    o.bind = "tcp://127.0.0.1:0";
    o.linger = milliseconds(0);
    o.curve_public = own.public_key;
    o.curve_secret = own.secret_key;
    o.curve_server_public = server_.public_key;
    o.curve_server_secret = server_.secret_key;
    o.allowed_peers = std::move(allowed);
    return o;
  }

  static std::unique_ptr<ZmqTransport> Create(ZmqTransportOptions o) {
    auto t = ZmqTransport::Create(std::move(o));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }

  // Every sender heard by `t` until `expected` has been heard (at most 5 s), and then for
  // `grace` more, so a message that should not arrive has had time to.
  static std::multiset<std::string> SendersHeard(Transport& t, const std::string& expected,
                                                 Duration grace = milliseconds(500)) {
    std::multiset<std::string> senders;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool extended = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto e = t.Receive(milliseconds(20))) senders.insert(e->header.sender);
      if (!extended && senders.count(expected) > 0) {
        deadline = std::chrono::steady_clock::now() + grace;
        extended = true;
      }
    }
    return senders;
  }

  CurveKeyPair server_;
};

TEST_F(CurveTest, GeneratedKeysAreValidZ85AndMatch) {
  const CurveKeyPair a = NewPair();
  const CurveKeyPair b = NewPair();
  EXPECT_EQ(a.public_key.size(), kCurveKeyZ85Length);
  EXPECT_TRUE(ValidateCurveKey(a.public_key, "p").ok());
  EXPECT_TRUE(ValidateCurveKey(a.secret_key, "s").ok());
  EXPECT_NE(a.public_key, b.public_key);
  Result<std::string> derived = DeriveCurvePublicKey(a.secret_key, "s");
  ASSERT_TRUE(derived.ok());
  EXPECT_EQ(*derived, a.public_key);
  Result<std::string> raw = DecodeCurveKey(a.public_key, "p");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), kCurveKeyBytes);
  EXPECT_EQ(*EncodeCurveKey(*raw), a.public_key);
}

TEST_F(CurveTest, MalformedKeysAreRejectedNamingTheField) {
  Status short_key = ValidateCurveKey("abc", "curve_public");
  EXPECT_TRUE(short_key.IsInvalidArgument());
  EXPECT_NE(short_key.message().find("curve_public"), std::string::npos);
  Status bad_char = ValidateCurveKey(std::string(39, 'a') + "~", "allowed_peers[2]");
  EXPECT_TRUE(bad_char.IsInvalidArgument());
  EXPECT_NE(bad_char.message().find("allowed_peers[2]"), std::string::npos);
  EXPECT_FALSE(EncodeCurveKey("short").ok());
}

TEST_F(CurveTest, CreateRejectsIncompleteOrMismatchedKeys) {
  const CurveKeyPair a = NewPair();
  ZmqTransportOptions missing = Member(a, {});
  missing.curve_server_secret.clear();
  auto r1 = ZmqTransport::Create(missing);
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.status().message().find("curve_server_secret"), std::string::npos);

  ZmqTransportOptions mismatched = Member(a, {});
  mismatched.curve_public = NewPair().public_key;
  auto r2 = ZmqTransport::Create(mismatched);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("curve_public"), std::string::npos);

  ZmqTransportOptions bad_peer = Member(a, {"not-a-key"});
  auto r3 = ZmqTransport::Create(bad_peer);
  ASSERT_FALSE(r3.ok());
  EXPECT_NE(r3.status().message().find("allowed_peers[0]"), std::string::npos);
}

TEST_F(CurveTest, TwoAdmittedNodesTalkBothWays) {
  const CurveKeyPair ka = NewPair();
  const CurveKeyPair kb = NewPair();
  auto a = Create(Member(ka, {kb.public_key}));
  auto b = Create(Member(kb, {ka.public_key}));
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Send(b->endpoint(), Make("a")).ok());
  ASSERT_TRUE(b->Send(a->endpoint(), Make("b")).ok());
  EXPECT_EQ(SendersHeard(*b, "a", Duration(0)).count("a"), 1u);
  EXPECT_EQ(SendersHeard(*a, "b", Duration(0)).count("b"), 1u);
}

TEST_F(CurveTest, NodeWithUnlistedKeyIsNotHeard) {
  const CurveKeyPair ka = NewPair();
  const CurveKeyPair kb = NewPair();
  const CurveKeyPair intruder_keys = NewPair();
  auto a = Create(Member(ka, {kb.public_key}));
  auto b = Create(Member(kb, {ka.public_key}));
  // Knows the mesh's server key pair, but its client key is not admitted by a.
  auto intruder = Create(Member(intruder_keys, {ka.public_key}));
  ASSERT_TRUE(a && b && intruder);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(intruder->Send(a->endpoint(), Make("intruder")).ok());
  ASSERT_TRUE(b->Send(a->endpoint(), Make("b")).ok());
  const auto heard = SendersHeard(*a, "b");
  EXPECT_EQ(heard.count("intruder"), 0u);
  EXPECT_EQ(heard.count("b"), 1u) << "an admitted peer must still get through";
}

TEST_F(CurveTest, NodeWithoutCurveKeysIsNotHeard) {
  const CurveKeyPair ka = NewPair();
  const CurveKeyPair kb = NewPair();
  auto a = Create(Member(ka, {kb.public_key}));
  auto b = Create(Member(kb, {ka.public_key}));
  ZmqTransportOptions plain_options;
  plain_options.linger = milliseconds(0);
  auto plain = Create(plain_options);
  ASSERT_TRUE(a && b && plain);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(plain->Send(a->endpoint(), Make("plain")).ok());
  ASSERT_TRUE(b->Send(a->endpoint(), Make("b")).ok());
  const auto heard = SendersHeard(*a, "b");
  EXPECT_EQ(heard.count("plain"), 0u);
  EXPECT_EQ(heard.count("b"), 1u);
  // Nor does a plaintext node hear a curve member, while it does hear another plaintext one.
  auto plain2 = Create(plain_options);
  ASSERT_NE(plain2, nullptr);
  ASSERT_TRUE(a->Send(plain->endpoint(), Make("a")).ok());
  ASSERT_TRUE(plain2->Send(plain->endpoint(), Make("plain2")).ok());
  const auto plain_heard = SendersHeard(*plain, "plain2");
  EXPECT_EQ(plain_heard.count("a"), 0u);
  EXPECT_EQ(plain_heard.count("plain2"), 1u);
}

}  // namespace
}  // namespace shardmesh::mesh
