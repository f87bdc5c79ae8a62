// MetricsServer: serves a MetricsRegistry as Prometheus text on GET /metrics, for
// `shardmesh worker --metrics-port`.
//
// One cpp-httplib server on its own listener thread, with a small worker pool (a scrape every
// few seconds needs no more). Every other path or method gets 404. Each scrape calls
// MetricsRegistry::RenderText, so the cost of a scrape lands on the server's threads, never on
// the data path.
//
// Thread-safety: port() may be called from any thread. Destruction stops the listener, waits
// for requests in flight and idle keep-alive connections (at most about a second) and joins
// the thread; the registry must outlive the server.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "shardmesh/common/metrics.h"
#include "shardmesh/common/status.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace shardmesh::tools {

class MetricsServer {
 public:
  // Binds `host`:`port` (port 0 picks a free port; see port()) and starts serving `registry`.
  // Unavailable naming host:port if the address cannot be bound (in use, not local, bad host);
  // InvalidArgument if the port is outside 0..65535.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& host, int port,
                                                      const MetricsRegistry& registry);
  // Same, on 127.0.0.1: metrics stay on the host unless the operator asks for another address.
  static Result<std::unique_ptr<MetricsServer>> Start(int port, const MetricsRegistry& registry) {
    return Start("127.0.0.1", port, registry);
  }

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The bound TCP port (the one chosen when Start was given 0).
  int port() const { return port_; }
  const std::string& host() const { return host_; }

 private:
  MetricsServer(std::string host, int port, std::unique_ptr<httplib::Server> server);

  std::string host_;
  int port_;
  std::unique_ptr<httplib::Server> server_;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
};

}  // namespace shardmesh::tools
