// Block exchange on a SimNetwork with a ManualClock: the test pumps every node's transport
// into its exchange (the loop a MeshNode would run), so nothing sleeps and every timeout is a
// clock advance.
#include "shardmesh/mesh/block_exchange.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/sim_network.h"
#include "shardmesh/mesh/zmq_transport.h"

namespace shardmesh::mesh {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using FetchFuture = std::future<Result<SharedBytes>>;

class MapProvider : public BlobProvider {
 public:
  // Stores `data` under `name`; with `corrupt`, the advertised checksum does not match it,
  // as if the stored copy had rotted after it was checksummed.
  void Put(const std::string& name, const std::string& data, bool corrupt = false) {
    std::lock_guard lock(mu_);
    Blob blob{SharedBytes::FromString(data), Hash64(data)};
    if (corrupt) blob.checksum ^= 1;
    blobs_[name] = blob;
  }
  Result<Blob> Get(std::string_view name) override {
    std::lock_guard lock(mu_);
    ++gets_;
    auto it = blobs_.find(std::string(name));
    if (it == blobs_.end()) return Status::NotFound("not held here");
    return it->second;
  }
  int gets() {
    std::lock_guard lock(mu_);
    return gets_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Blob> blobs_;
  int gets_ = 0;
};

struct Node {
  std::unique_ptr<Transport> transport;
  MapProvider provider;
  std::unique_ptr<BlockExchange> exchange;
};

bool Ready(FetchFuture& f) { return f.wait_for(seconds(0)) == std::future_status::ready; }

class BlockExchangeTest : public ::testing::Test {
 protected:
  static ExchangeOptions Options() {
    ExchangeOptions o;
    o.server_threads = 0;  // inline reads: deterministic
    o.fetch.per_try_timeout = milliseconds(500);
    return o;
  }

  Node& Add(const std::string& name, ExchangeOptions options = Options(),
            std::function<void()> wake = nullptr) {
    auto node = std::make_unique<Node>();
    node->transport = net_.Attach("sim://" + name);
    options.node_name = name;
    auto exchange = BlockExchange::Create(options, &node->provider, clock_, std::move(wake));
    EXPECT_TRUE(exchange.ok()) << exchange.status().ToString();
    node->exchange = std::move(exchange).value();
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // Delivers every due message and pumps every exchange until nothing moves.
  void Settle() {
    bool moved = true;
    while (moved) {
      const std::size_t in_flight = net_.InFlight();
      moved = false;
      for (auto& node : nodes_) {
        while (std::optional<Envelope> e = node->transport->Receive(Duration::zero())) {
          node->exchange->HandleEnvelope(*e, *node->transport);
          moved = true;
        }
        node->exchange->Pump(*node->transport);
      }
      // A pump that only sent has moved too: its messages may already be due.
      if (net_.InFlight() != in_flight) moved = true;
    }
  }

  // Advances the clock in `step`s, settling after each, until `done` or `limit` has passed.
  // Returns the time it took, or nullopt at the limit.
  template <typename Pred>
  std::optional<Duration> RunUntil(Pred done, Duration limit, Duration step = milliseconds(10)) {
    const TimePoint start = clock_.Now();
    Settle();
    while (!done()) {
      if (clock_.Now() - start >= limit) return std::nullopt;
      clock_.Advance(step);
      Settle();
    }
    return clock_.Now() - start;
  }

  ManualClock clock_;
  SimNetwork net_{7, clock_};
  std::vector<std::unique_ptr<Node>> nodes_;
};

TEST_F(BlockExchangeTest, FetchesABlobFromOneHolder) {
  Node& server = Add("server");
  Node& client = Add("client");
  server.provider.Put("d/0/0", "hello block");
  FetchFuture f = client.exchange->Fetch("d/0/0", {"sim://server"});
  Settle();
  ASSERT_TRUE(Ready(f));
  Result<SharedBytes> got = f.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->chars(), "hello block");
  const ExchangeStats c = client.exchange->stats();
  EXPECT_EQ(c.requests_sent, 1u);
  EXPECT_EQ(c.fetches_succeeded, 1u);
  EXPECT_EQ(c.bytes_in, 11u);
  EXPECT_EQ(c.retries, 0u);
  std::uint64_t bucketed = 0;
  for (std::uint64_t n : c.latency_buckets) bucketed += n;
  EXPECT_EQ(bucketed, 1u);
  EXPECT_EQ(server.exchange->stats().requests_served, 1u);
  EXPECT_EQ(server.exchange->stats().bytes_out, 11u);
  EXPECT_EQ(client.exchange->pending_fetches(), 0u);
}

TEST_F(BlockExchangeTest, EmptyHolderListIsInvalidArgument) {
  Node& client = Add("client");
  FetchFuture f = client.exchange->Fetch("x", {});
  ASSERT_TRUE(Ready(f));
  EXPECT_TRUE(f.get().status().IsInvalidArgument());
}

TEST_F(BlockExchangeTest, PipeliningRespectsThePerPeerWindow) {
  ExchangeOptions o = Options();
  o.window_per_peer = 3;
  Node& server = Add("server");
  Node& client = Add("client", o);
  // Requests reach the server 100 ms after they are sent; answers come back at once.
  net_.SetProcessingDelay("sim://server", milliseconds(100));
  std::vector<FetchFuture> futures;
  for (int i = 0; i < 10; ++i) {
    const std::string name = "b" + std::to_string(i);
    server.provider.Put(name, "data-" + name);
    futures.push_back(client.exchange->Fetch(name, {"sim://server"}));
  }
  Settle();
  EXPECT_EQ(client.exchange->stats().requests_sent, 3u);
  EXPECT_EQ(net_.InFlight(), 3u);
  clock_.Advance(milliseconds(100));
  Settle();
  EXPECT_EQ(client.exchange->stats().fetches_succeeded, 3u);
  EXPECT_EQ(client.exchange->stats().requests_sent, 6u);
  EXPECT_EQ(net_.InFlight(), 3u);
  ASSERT_TRUE(RunUntil([&] { return client.exchange->pending_fetches() == 0; }, seconds(1),
                       milliseconds(100)));
  for (int i = 0; i < 10; ++i) {
    Result<SharedBytes> got = futures[i].get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->chars(), "data-b" + std::to_string(i));
  }
  EXPECT_EQ(client.exchange->stats().requests_sent, 10u);
}

TEST_F(BlockExchangeTest, FetchBehindAFullWindowNeedsNoWakeAndIsSentWhenCreditFrees) {
  ExchangeOptions o = Options();
  o.window_per_peer = 2;
  int wakes = 0;
  Node& server = Add("server");
  Node& client = Add("client", o, [&] { ++wakes; });
  net_.SetProcessingDelay("sim://server", milliseconds(100));
  for (int i = 0; i < 3; ++i) server.provider.Put("b" + std::to_string(i), "data");
  FetchFuture f0 = client.exchange->Fetch("b0", {"sim://server"});
  FetchFuture f1 = client.exchange->Fetch("b1", {"sim://server"});
  EXPECT_EQ(wakes, 2) << "credit was free for both";
  Settle();
  EXPECT_EQ(client.exchange->stats().requests_sent, 2u);
  FetchFuture f2 = client.exchange->Fetch("b2", {"sim://server"});
  EXPECT_EQ(wakes, 2) << "the window is full: the answer that frees credit sends it";
  clock_.Advance(milliseconds(100));
  Settle();
  EXPECT_EQ(client.exchange->stats().requests_sent, 3u);
  ASSERT_TRUE(RunUntil([&] { return client.exchange->pending_fetches() == 0; }, seconds(1)));
  for (FetchFuture* f : {&f0, &f1, &f2}) EXPECT_TRUE(f->get().ok());
  EXPECT_EQ(wakes, 2);
}

TEST_F(BlockExchangeTest, TotalWindowCapsRequestsAcrossPeers) {
  ExchangeOptions o = Options();
  o.window_per_peer = 4;
  o.window_total = 5;
  Add("a");
  Add("b");
  Node& client = Add("client", o);
  net_.SetProcessingDelay("sim://a", milliseconds(100));
  net_.SetProcessingDelay("sim://b", milliseconds(100));
  std::vector<FetchFuture> futures;
  for (int i = 0; i < 8; ++i) {
    futures.push_back(
        client.exchange->Fetch("x" + std::to_string(i), {i % 2 ? "sim://a" : "sim://b"}));
  }
  Settle();
  EXPECT_EQ(client.exchange->stats().requests_sent, 5u);
}

TEST_F(BlockExchangeTest, FetchManyReturnsFuturesInRequestOrder) {
  Node& a = Add("a");
  Node& b = Add("b");
  Node& client = Add("client");
  std::vector<BlockExchange::FetchRequest> requests;
  for (int i = 0; i < 12; ++i) {
    const std::string name = "m" + std::to_string(i);
    (i % 2 ? a : b).provider.Put(name, "content " + name);
    requests.push_back({name, {"sim://a", "sim://b"}});
  }
  std::vector<FetchFuture> futures = client.exchange->FetchMany(requests, FetchOptions{});
  ASSERT_EQ(futures.size(), 12u);
  Settle();
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(Ready(futures[i]));
    Result<SharedBytes> got = futures[i].get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->chars(), "content m" + std::to_string(i));
  }
  EXPECT_EQ(client.exchange->stats().fetches_succeeded, 12u);
}

TEST_F(BlockExchangeTest, DroppedResponseRetriesOnTheNextHolderAfterTheTryTimeout) {
  Node& a = Add("a");
  Node& b = Add("b");
  Node& client = Add("client");
  a.provider.Put("blk", "payload");
  b.provider.Put("blk", "payload");
  net_.BlockLink("sim://a", "sim://client");  // a's answers are lost
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"});
  Settle();
  clock_.Advance(milliseconds(499));
  Settle();
  EXPECT_FALSE(Ready(f)) << "moved on before the per-try timeout";
  clock_.Advance(milliseconds(1));
  Settle();
  ASSERT_TRUE(Ready(f));
  Result<SharedBytes> got = f.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->chars(), "payload");
  EXPECT_EQ(a.provider.gets(), 1);
  EXPECT_EQ(b.provider.gets(), 1);
  EXPECT_EQ(client.exchange->stats().timeouts, 1u);
  EXPECT_EQ(client.exchange->stats().retries, 1u);
}

TEST_F(BlockExchangeTest, NotFoundMovesToTheNextHolderAtOnce) {
  Add("a");  // holds nothing
  Node& b = Add("b");
  Node& client = Add("client");
  b.provider.Put("blk", "from b");
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"});
  Settle();
  ASSERT_TRUE(Ready(f)) << "a NotFound answer must not wait for the timeout";
  Result<SharedBytes> got = f.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->chars(), "from b");
  EXPECT_EQ(client.exchange->stats().timeouts, 0u);
}

TEST_F(BlockExchangeTest, AllHoldersFailingGivesUnavailableNamingBlobAndEachHolder) {
  Node& a = Add("a");
  Add("b");  // holds nothing
  Node& client = Add("client");
  a.provider.Put("d/1/2", "x");
  net_.Down("sim://a");
  FetchFuture f = client.exchange->Fetch("d/1/2", {"sim://a", "sim://b"});
  std::optional<Duration> took = RunUntil([&] { return Ready(f); }, seconds(5));
  ASSERT_TRUE(took.has_value()) << "fetch hung";
  EXPECT_LE(*took, milliseconds(510));
  Status s = f.get().status();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("blob d/1/2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("sim://a (timeout after 500 ms)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("sim://b (not found"), std::string::npos) << s.message();
  EXPECT_EQ(client.exchange->stats().fetches_failed, 1u);
}

TEST_F(BlockExchangeTest, AllHoldersDeadEndsWithinTheirTimeouts) {
  Add("a");
  Add("b");
  Node& client = Add("client");
  net_.Down("sim://a");
  net_.Down("sim://b");
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"});
  std::optional<Duration> took = RunUntil([&] { return Ready(f); }, seconds(5));
  ASSERT_TRUE(took.has_value()) << "fetch hung";
  EXPECT_LE(*took, milliseconds(1010));
  Status s = f.get().status();
  EXPECT_TRUE(s.IsUnavailable()) << s.ToString();
  EXPECT_NE(s.message().find("blob blk"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("sim://a (timeout"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("sim://b (timeout"), std::string::npos) << s.message();
}

TEST_F(BlockExchangeTest, OverallDeadlineCutsRetriesShort) {
  Add("a");
  Add("b");
  Node& client = Add("client");
  net_.Down("sim://a");
  net_.Down("sim://b");
  FetchOptions fo;
  fo.per_try_timeout = milliseconds(500);
  fo.deadline = milliseconds(700);
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"}, fo);
  std::optional<Duration> took = RunUntil([&] { return Ready(f); }, seconds(5));
  ASSERT_TRUE(took.has_value());
  EXPECT_LE(*took, milliseconds(710));
  Status s = f.get().status();
  EXPECT_TRUE(s.IsDeadlineExceeded()) << s.ToString();
  EXPECT_NE(s.message().find("blob blk"), std::string::npos) << s.message();
}

TEST_F(BlockExchangeTest, ChecksumMismatchMovesToTheNextHolder) {
  Node& a = Add("a");
  Node& b = Add("b");
  Node& client = Add("client");
  a.provider.Put("blk", "rotten", /*corrupt=*/true);
  b.provider.Put("blk", "good data");
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"});
  Settle();
  ASSERT_TRUE(Ready(f));
  Result<SharedBytes> got = f.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->chars(), "good data");
  EXPECT_EQ(client.exchange->stats().checksum_mismatches, 1u);

  // Only corrupt copies: the error says so.
  FetchFuture bad = client.exchange->Fetch("blk", {"sim://a"});
  Settle();
  ASSERT_TRUE(Ready(bad));
  Status s = bad.get().status();
  EXPECT_TRUE(s.IsUnavailable());
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
}

TEST_F(BlockExchangeTest, LateResponseToAnAbandonedTryIsIgnored) {
  Node& a = Add("a");
  Node& b = Add("b");
  Node& client = Add("client");
  a.provider.Put("blk", "from a");
  b.provider.Put("blk", "from b");
  net_.SetProcessingDelay("sim://a", milliseconds(800));  // a answers after the try timeout
  FetchFuture f = client.exchange->Fetch("blk", {"sim://a", "sim://b"});
  ASSERT_TRUE(RunUntil([&] { return Ready(f); }, seconds(2)));
  Result<SharedBytes> got = f.get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->chars(), "from b");
  ASSERT_TRUE(RunUntil([&] { return client.exchange->stats().late_responses == 1; }, seconds(2)));
  EXPECT_EQ(client.exchange->stats().fetches_succeeded, 1u);
  EXPECT_EQ(a.provider.gets(), 1);
}

TEST_F(BlockExchangeTest, DuplicatedMessagesCompleteEachFetchOnce) {
  Node& server = Add("server");
  Node& client = Add("client");
  net_.SetDuplicateRate(1.0);
  std::vector<FetchFuture> futures;
  for (int i = 0; i < 20; ++i) {
    server.provider.Put("k" + std::to_string(i), "v" + std::to_string(i));
    futures.push_back(client.exchange->Fetch("k" + std::to_string(i), {"sim://server"}));
  }
  ASSERT_TRUE(RunUntil(
      [&] { return net_.InFlight() == 0 && client.exchange->pending_fetches() == 0; }, seconds(2)));
  for (int i = 0; i < 20; ++i) {
    Result<SharedBytes> got = futures[i].get();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->chars(), "v" + std::to_string(i));
  }
  const ExchangeStats s = client.exchange->stats();
  EXPECT_EQ(s.fetches_succeeded, 20u);
  EXPECT_GT(s.late_responses, 0u) << "duplicates must have arrived and been ignored";
}

TEST_F(BlockExchangeTest, ManyConcurrentFetchesOnALossyNetworkCompleteExactlyOnce) {
  constexpr int kFetches = 300;
  Node& a = Add("a");
  Node& b = Add("b");
  Node& c = Add("c");
  ExchangeOptions o = Options();
  o.fetch.per_try_timeout = milliseconds(100);
  Node& client = Add("client", o);
  for (int i = 0; i < kFetches; ++i) {
    const std::string name = "n" + std::to_string(i);
    for (Node* n : {&a, &b, &c}) n->provider.Put(name, "value of " + name);
  }
  net_.SetDropRate(0.1);
  net_.SetDelay(milliseconds(1), milliseconds(20));
  net_.SetDuplicateRate(0.1);
  // Fetches come from four threads at once, as loader threads would call them.
  std::vector<FetchFuture> futures(kFetches);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kFetches; i += 4) {
        std::vector<std::string> holders = {"sim://a", "sim://b", "sim://c"};
        std::rotate(holders.begin(), holders.begin() + i % 3, holders.end());
        futures[i] = client.exchange->Fetch("n" + std::to_string(i), holders);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(RunUntil([&] { return client.exchange->pending_fetches() == 0; }, seconds(10)));
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < kFetches; ++i) {
    ASSERT_TRUE(Ready(futures[i]));
    Result<SharedBytes> got = futures[i].get();
    if (got.ok()) {
      ++ok;
      EXPECT_EQ(got->chars(), "value of n" + std::to_string(i));
    } else {
      ++failed;
      EXPECT_NE(got.status().message().find("n" + std::to_string(i) + ":"), std::string::npos);
    }
  }
  const ExchangeStats s = client.exchange->stats();
  EXPECT_EQ(s.fetches_succeeded, static_cast<std::uint64_t>(ok));
  EXPECT_EQ(s.fetches_failed, static_cast<std::uint64_t>(failed));
  EXPECT_EQ(ok + failed, kFetches);
  // Each try fails with p ~ 0.19 (request or answer lost), all three with p < 0.01.
  EXPECT_GE(ok, kFetches * 95 / 100);
  EXPECT_GT(s.retries, 0u);
}

TEST_F(BlockExchangeTest, ServerPoolReadsOffTheLoopAndWakesIt) {
  std::mutex mu;
  std::condition_variable cv;
  int wakes = 0;
  ExchangeOptions o = Options();
  o.server_threads = 2;
  Node& server = Add("server", o, [&] {
    std::lock_guard lock(mu);
    ++wakes;
    cv.notify_all();
  });
  Node& client = Add("client");
  std::vector<FetchFuture> futures;
  for (int i = 0; i < 16; ++i) {
    server.provider.Put("p" + std::to_string(i), std::string(1000 + i, 'z'));
    futures.push_back(client.exchange->Fetch("p" + std::to_string(i), {"sim://server"}));
  }
  // Reads finish on pool threads in real time: wait for their wake-ups (bounded), not sleep.
  for (int round = 0; round < 200 && client.exchange->pending_fetches() > 0; ++round) {
    Settle();
    std::unique_lock lock(mu);
    const int seen = wakes;
    cv.wait_for(lock, milliseconds(50), [&] { return wakes != seen; });
  }
  Settle();
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(Ready(futures[i]));
    Result<SharedBytes> got = futures[i].get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->size(), 1000u + i);
  }
  EXPECT_EQ(server.exchange->stats().requests_served, 16u);
}

TEST_F(BlockExchangeTest, MalformedRequestIsDroppedAndTheNodeKeepsServing) {
  Node& server = Add("server");
  Node& client = Add("client");
  server.provider.Put("ok", "fine");
  std::unique_ptr<Transport> rogue = net_.Attach("sim://rogue");
  Envelope junk;
  junk.header.type = MessageType::kBlockRequest;
  junk.header.sender = "rogue";
  junk.header.sender_endpoint = "sim://rogue";
  junk.payload = SharedBytes::FromString("\xc1\xc1 not msgpack");
  ASSERT_TRUE(rogue->Send("sim://server", junk).ok());
  junk.header.type = MessageType::kBlockResponse;
  ASSERT_TRUE(rogue->Send("sim://client", junk).ok());
  Settle();
  EXPECT_EQ(server.exchange->stats().malformed_dropped, 1u);
  EXPECT_EQ(client.exchange->stats().malformed_dropped, 1u);
  FetchFuture f = client.exchange->Fetch("ok", {"sim://server"});
  Settle();
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get()->chars(), "fine");
}

TEST_F(BlockExchangeTest, DestroyingTheExchangeAbortsPendingFetches) {
  Add("server");
  Node& client = Add("client");
  net_.Down("sim://server");
  FetchFuture f = client.exchange->Fetch("blk", {"sim://server"});
  Settle();
  client.exchange.reset();
  ASSERT_TRUE(Ready(f));
  EXPECT_EQ(f.get().status().code(), StatusCode::kAborted);
}

TEST_F(BlockExchangeTest, CreateRejectsZeroWindows) {
  ExchangeOptions o;
  o.window_per_peer = 0;
  EXPECT_TRUE(BlockExchange::Create(o, nullptr).status().IsInvalidArgument());
  o = ExchangeOptions();
  o.window_total = 0;
  EXPECT_TRUE(BlockExchange::Create(o, nullptr).status().IsInvalidArgument());
}

// Real time and real sockets (127.0.0.1, ephemeral ports): the exchange driven by MeshNode's
// loop, provider reads on the pool, timeouts from the ticker. Waits are bounded future waits.
TEST(BlockExchangeOnMeshNodeTest, FetchesOverZeroMQAndFailsOverFromAnUnreachableHolder) {
  auto make_node = [](const std::string& name) {
    auto transport = ZmqTransport::Create(ZmqTransportOptions{});
    EXPECT_TRUE(transport.ok()) << transport.status().ToString();
    MeshOptions options = MeshOptions::Local();
    options.name = name;
    auto node = MeshNode::Create(options, std::move(transport).value());
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return std::move(node).value();
  };
  std::unique_ptr<MeshNode> server_node = make_node("server");
  std::unique_ptr<MeshNode> client_node = make_node("client");
  MapProvider provider;
  const std::string big(300000, 'q');
  provider.Put("d/0/1", big);
  ExchangeOptions o;
  o.server_threads = 2;
  o.fetch.per_try_timeout = milliseconds(300);
  auto server = BlockExchange::Create(o, &provider);
  auto client = BlockExchange::Create(o, nullptr);
  ASSERT_TRUE(server.ok() && client.ok());
  ASSERT_TRUE((*server)->Attach(*server_node).ok());
  ASSERT_TRUE((*client)->Attach(*client_node).ok());
  EXPECT_EQ((*client)->Attach(*client_node).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(server_node->Start({}).ok());
  ASSERT_TRUE(client_node->Start({}).ok());

  FetchFuture direct = (*client)->Fetch("d/0/1", {server_node->endpoint()});
  ASSERT_EQ(direct.wait_for(seconds(10)), std::future_status::ready);
  Result<SharedBytes> got = direct.get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->chars(), big);

  // A holder nobody listens on: the try fails (send refused or timeout) and the next holder
  // answers.
  FetchFuture failover = (*client)->Fetch("d/0/1", {"tcp://127.0.0.1:1", server_node->endpoint()});
  ASSERT_EQ(failover.wait_for(seconds(10)), std::future_status::ready);
  Result<SharedBytes> again = failover.get();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), big.size());

  FetchFuture missing = (*client)->Fetch("nope", {server_node->endpoint()});
  ASSERT_EQ(missing.wait_for(seconds(10)), std::future_status::ready);
  EXPECT_TRUE(missing.get().status().IsUnavailable());

  // Handlers hold the exchanges: stop the loops before the exchanges go.
  client_node->Stop();
  server_node->Stop();
}

}  // namespace
}  // namespace shardmesh::mesh
