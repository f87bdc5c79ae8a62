#include "metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <utility>

namespace shardmesh::tools {
namespace {

// Scrapes come every few seconds from one or two Prometheus servers; httplib's default pool
// (one thread per core, at least 8) would only cost memory. Each connection holds a thread
// until it closes, so a few more than the scrapers keep a port scanner or a stuck client from
// blocking the scrapes.
constexpr std::size_t kServerThreads = 4;
// Bounds how long destruction waits for an idle keep-alive connection to close.
constexpr time_t kKeepAliveSeconds = 1;
// A client silent for this long mid-request (connected and sending nothing, or not reading
// the response) is dropped: it holds a thread, and the destructor (SIGTERM) waits for it.
// httplib's default is 5 s per read.
constexpr time_t kIoTimeoutSeconds = 1;

}  // namespace

MetricsServer::MetricsServer(std::string host, int port, std::unique_ptr<httplib::Server> server)
    : host_(std::move(host)), port_(port), server_(std::move(server)) {}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, int port,
                                                            const MetricsRegistry& registry) {
  const std::string address = host + ":" + std::to_string(port);
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument("metrics server " + address + ": port outside 0..65535");
  }
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  // httplib's default sets SO_REUSEPORT, which lets a second worker bind the same port without
  // error and have the kernel split scrapes between the two. SO_REUSEADDR alone still allows a
  // quick restart over TIME_WAIT connections but makes a port in use an error.
  server->set_socket_options([](auto sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // An idle keep-alive connection holds a pool thread, and the destructor waits for it: keep
  // the wait short. Scrapes come every few seconds, so reconnecting costs nothing.
  server->set_keep_alive_timeout(kKeepAliveSeconds);
  server->set_read_timeout(kIoTimeoutSeconds, 0);
  server->set_write_timeout(kIoTimeoutSeconds, 0);
  server->Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
    response.set_content(registry.RenderText(), std::string(MetricsRegistry::kContentType));
  });
  // A throwing callback (or bad_alloc) must fail the scrape, not the worker.
  server->set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        response.status = 500;
        response.set_content("metrics: " + what + "\n", "text/plain; charset=utf-8");
      });

  errno = 0;
  int bound = -1;
  if (port == 0) {
    bound = server->bind_to_any_port(host);
  } else if (server->bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    const int error = errno;
    return Status::Unavailable("metrics server: cannot listen on " + address +
                               (error != 0 ? std::string(" (") + std::strerror(error) + ")" : ""));
  }

  std::unique_ptr<MetricsServer> self(new MetricsServer(host, bound, std::move(server)));
  MetricsServer* raw = self.get();
  self->thread_ = std::thread([raw] {
    raw->server_->listen_after_bind();
    raw->listen_returned_.store(true);
  });
  // httplib's stop() does nothing until listen_after_bind has marked the server running, so a
  // destructor that came first would stop nothing and join for ever. Wait for that mark.
  while (!self->server_->is_running() && !self->listen_returned_.load()) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return self;
}

MetricsServer::~MetricsServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace shardmesh::tools
