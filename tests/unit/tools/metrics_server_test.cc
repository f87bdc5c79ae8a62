#include "metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "prometheus_text.h"

namespace shardmesh::tools {
namespace {

using shardmesh::testing::ParsePrometheusText;

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto requests =
        registry_.AddCounter("shardmesh_test_requests_total", "Requests.", {{"peer", "w\"1"}});
    ASSERT_TRUE(requests.ok());
    requests_ = *requests;
    ASSERT_TRUE(registry_
                    .AddGaugeCallback("shardmesh_test_level", "Level.", {},
                                      [this] { return level_.load(); })
                    .ok());
    auto latency = registry_.AddHistogram("shardmesh_test_seconds", "Latency.", {0.01, 0.1});
    ASSERT_TRUE(latency.ok());
    latency_ = *latency;
  }

  // Starts a server on 127.0.0.1 and an ephemeral port.
  std::unique_ptr<MetricsServer> StartServer() {
    auto server = MetricsServer::Start("127.0.0.1", 0, registry_);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    if (!server.ok()) return nullptr;
    EXPECT_GT((*server)->port(), 0);
    return std::move(server).value();
  }

  MetricsRegistry registry_;
  Counter* requests_ = nullptr;
  Histogram* latency_ = nullptr;
  std::atomic<double> level_{0.5};
};

TEST_F(MetricsServerTest, ServesTheRegistryOnGetMetrics) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  requests_->Inc(7);
  latency_->Observe(0.05);
  httplib::Client client("127.0.0.1", server->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto parsed = ParsePrometheusText(response->body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << response->body;
  EXPECT_EQ(parsed->Value("shardmesh_test_requests_total", {{"peer", "w\"1"}}), 7.0);
  EXPECT_EQ(parsed->Value("shardmesh_test_level"), 0.5);
  EXPECT_EQ(parsed->Value("shardmesh_test_seconds_bucket", {{"le", "0.1"}}), 1.0);
  EXPECT_EQ(parsed->Value("shardmesh_test_seconds_count"), 1.0);
}

TEST_F(MetricsServerTest, EachScrapeSeesCurrentValues) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  client.set_keep_alive(true);
  for (int i = 1; i <= 3; ++i) {
    requests_->Inc();
    level_.store(i * 10.0);
    auto response = client.Get("/metrics");
    ASSERT_TRUE(response);
    auto parsed = ParsePrometheusText(response->body);
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(parsed->Value("shardmesh_test_requests_total", {{"peer", "w\"1"}}), i);
    EXPECT_EQ(parsed->Value("shardmesh_test_level"), i * 10.0);
  }
}

TEST_F(MetricsServerTest, OtherPathsAndMethodsGet404) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/", "/metricsx", "/metrics/", "/favicon.ico"}) {
    auto response = client.Get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(MetricsServerTest, PortInUseIsAnErrorNamingHostAndPort) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  auto second = MetricsServer::Start("127.0.0.1", first->port(), registry_);
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.status().IsUnavailable()) << second.status().ToString();
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(first->port())),
            std::string::npos)
      << second.status().message();
}

TEST_F(MetricsServerTest, PortOutOfRangeIsInvalidArgument) {
  EXPECT_TRUE(MetricsServer::Start("127.0.0.1", 70000, registry_).status().IsInvalidArgument());
  EXPECT_TRUE(MetricsServer::Start("127.0.0.1", -1, registry_).status().IsInvalidArgument());
}

TEST_F(MetricsServerTest, DefaultHostIsLoopback) {
  auto server = MetricsServer::Start(0, registry_);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ((*server)->host(), "127.0.0.1");
  httplib::Client client("127.0.0.1", (*server)->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(MetricsServerTest, ThrowingCallbackFailsTheScrapeNotTheServer) {
  ASSERT_TRUE(registry_
                  .AddGaugeCallback("shardmesh_test_broken", "Broken.", {},
                                    []() -> double { throw std::runtime_error("stats gone"); })
                  .ok());
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("stats gone"), std::string::npos) << response->body;
  auto again = client.Get("/metrics");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 500);
}

TEST_F(MetricsServerTest, StopsPromptlyEvenRightAfterStartOrWithAnOpenConnection) {
  for (int i = 0; i < 20; ++i) {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
  }  // each destructor must stop a server that may not have reached its accept loop yet
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get("/metrics"));
  const auto start = std::chrono::steady_clock::now();
  server.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// A TCP connection to 127.0.0.1:port that sends nothing (a port scanner, a stuck client).
int ConnectIdle(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(MetricsServerTest, SilentClientsNeitherBlockScrapesNorHoldUpShutdown) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  // More silent connections than the server has threads, accepted before the scrape: with 2
  // threads and httplib's 5 s read timeout the scrape waited 15 s behind them.
  std::vector<int> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(ConnectIdle(server->port()));
    ASSERT_GE(idle.back(), 0);
  }
  httplib::Client client("127.0.0.1", server->port());
  client.set_read_timeout(std::chrono::seconds(6));
  const auto start = std::chrono::steady_clock::now();
  auto response = client.Get("/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
  for (int i = 0; i < 4; ++i) idle.push_back(ConnectIdle(server->port()));
  const auto stop = std::chrono::steady_clock::now();
  server.reset();  // a SIGTERM'd worker waits for this
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::seconds(4));
  for (int fd : idle) {
    if (fd >= 0) ::close(fd);
  }
}

}  // namespace
}  // namespace shardmesh::tools
