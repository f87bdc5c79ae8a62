// Block exchange throughput on tcp://127.0.0.1 beside raw ZeroMQ in the same run (issue 4's
// benchmark). N nodes (2 and 4) each serve in-memory blobs and stream remote blobs from every
// other node at once:
//   exchange: BlockExchange::Fetch over ZmqTransport (request + msgpack meta, blob as a
//             zero-copy attachment frame, xxh3 verified on arrival), window 8 per peer;
//   raw:      plain cppzmq DEALER -> ROUTER request/response, the reply a zero-copy frame of
//             the same size, the same 8 requests in flight per peer, no checksum.
// Prints MB/s and blobs/s of both and the ratio exchange/raw, plus raw with an xxh3 of every
// reply (the exchange's mandatory verification) and the ratio to that. Own main(): the comparison
// must come from the same process and moment, which Google Benchmark's per-case runs do not give.
// Usage: exchange_bench [seconds per run, default 1] [runs per case, default 3] [nodes]
//        [blob KiB]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/zmq_transport.h"
#include "synthetic_blobs.h"

namespace shardmesh::mesh {
namespace {

using Steady = std::chrono::steady_clock;
constexpr std::size_t kWindow = 8;

struct Result2 {
  double mb_per_s = 0;
  double blobs_per_s = 0;
  std::uint64_t failures = 0;
};

Result2 RunExchange(int nodes, std::size_t size, double seconds) {
  struct Node {
    std::unique_ptr<ZmqTransport> transport;
    std::unique_ptr<SyntheticBlobs> provider;
    std::unique_ptr<BlockExchange> exchange;
  };
  std::vector<Node> n(static_cast<std::size_t>(nodes));
  for (int i = 0; i < nodes; ++i) {
    auto t = ZmqTransport::Create(ZmqTransportOptions{});
    if (!t.ok()) {
      std::fprintf(stderr, "transport: %s\n", t.status().ToString().c_str());
      std::exit(1);
    }
    n[i].transport = std::move(t).value();
    n[i].provider = std::make_unique<SyntheticBlobs>(size);
    ExchangeOptions o;
    o.node_name = "n" + std::to_string(i);
    o.server_threads = 0;  // in-memory provider: serve on the loop
    o.window_per_peer = kWindow;
    o.fetch.per_try_timeout = std::chrono::seconds(10);
    n[i].exchange = BlockExchange::Create(o, n[i].provider.get()).value();
  }
  std::atomic<bool> stop_loops{false};
  std::atomic<bool> stop_drivers{false};
  std::atomic<std::uint64_t> bytes{0}, blobs{0}, failures{0};
  std::atomic<bool> measuring{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < nodes; ++i) {
    threads.emplace_back([&, i] {
      Node& node = n[i];
      while (!stop_loops.load(std::memory_order_relaxed)) {
        if (auto e = node.transport->Receive(std::chrono::milliseconds(1))) {
          node.exchange->HandleEnvelope(*e, *node.transport);
          for (int k = 0; k < 64; ++k) {
            auto more = node.transport->Receive(Duration::zero());
            if (!more) break;
            node.exchange->HandleEnvelope(*more, *node.transport);
          }
        }
        node.exchange->Pump(*node.transport);
      }
    });
  }
  std::vector<std::thread> drivers;
  for (int i = 0; i < nodes; ++i) {
    drivers.emplace_back([&, i] {
      std::vector<std::string> peers;
      for (int j = 0; j < nodes; ++j) {
        if (j != i) peers.push_back(n[j].transport->endpoint());
      }
      // Twice the credit in flight, so the queue behind the window never runs dry.
      const std::size_t depth = 2 * kWindow * peers.size();
      std::deque<std::future<Result<SharedBytes>>> q;
      std::uint64_t next = 0;
      auto issue = [&] {
        const std::string& peer = peers[next % peers.size()];
        q.push_back(n[i].exchange->Fetch(SyntheticBlobName(next), {peer}));
        ++next;
      };
      while (q.size() < depth) issue();
      while (!q.empty()) {
        Result<SharedBytes> r = q.front().get();
        q.pop_front();
        if (!r.ok()) {
          failures.fetch_add(1);
        } else if (measuring.load(std::memory_order_relaxed)) {
          bytes.fetch_add(r->size(), std::memory_order_relaxed);
          blobs.fetch_add(1, std::memory_order_relaxed);
        }
        if (!stop_drivers.load(std::memory_order_relaxed)) issue();
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // warm-up: connections, caches
  measuring = true;
  const Steady::time_point t0 = Steady::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  stop_drivers = true;
  for (std::thread& t : drivers) t.join();
  stop_loops = true;
  for (std::thread& t : threads) t.join();
  return {static_cast<double>(bytes.load()) / elapsed / 1e6,
          static_cast<double>(blobs.load()) / elapsed, failures.load()};
}

Result2 Median(std::vector<Result2> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Result2& a, const Result2& b) { return a.mb_per_s < b.mb_per_s; });
  return runs[runs.size() / 2];
}

void NoFree(void*, void*) {}

// With `verify`, each reply is hashed with xxh3 on arrival, as the exchange does: the raw
// cost of the check, to tell it apart from the exchange's own overhead.
Result2 RunRaw(int nodes, std::size_t size, double seconds, bool verify) {
  std::vector<std::uint8_t> blob(size, 0x5a);
  // One context (one I/O thread) per node, as separate processes would have and as each
  // ZmqTransport has: a shared one would make the I/O thread the raw side's bottleneck.
  std::vector<std::unique_ptr<zmq::context_t>> contexts;
  for (int i = 0; i < nodes; ++i) contexts.push_back(std::make_unique<zmq::context_t>(1));
  std::vector<zmq::socket_t> routers;
  std::vector<std::string> endpoints;
  for (int i = 0; i < nodes; ++i) {
    routers.emplace_back(*contexts[i], zmq::socket_type::router);
    routers.back().set(zmq::sockopt::linger, 0);
    routers.back().bind("tcp://127.0.0.1:*");
    endpoints.push_back(routers.back().get(zmq::sockopt::last_endpoint));
  }
  std::atomic<bool> stop{false}, measuring{false};
  std::atomic<std::uint64_t> bytes{0}, blobs{0}, sink{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < nodes; ++i) {
    threads.emplace_back([&, i] {
      zmq::socket_t& router = routers[i];
      std::vector<zmq::socket_t> dealers;
      for (int j = 0; j < nodes; ++j) {
        if (j == i) continue;
        dealers.emplace_back(*contexts[i], zmq::socket_type::dealer);
        dealers.back().set(zmq::sockopt::linger, 0);
        dealers.back().connect(endpoints[j]);
      }
      const std::uint64_t request = 1;
      for (auto& d : dealers) {
        for (std::size_t k = 0; k < kWindow; ++k) d.send(zmq::buffer(&request, 8));
      }
      std::vector<zmq::pollitem_t> items;
      items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
      for (auto& d : dealers) items.push_back({d.handle(), 0, ZMQ_POLLIN, 0});
      while (!stop.load(std::memory_order_relaxed)) {
        zmq::poll(items, std::chrono::milliseconds(1));
        zmq::message_t id, body;
        while (router.recv(id, zmq::recv_flags::dontwait)) {
          (void)router.recv(body, zmq::recv_flags::none);
          router.send(id, zmq::send_flags::sndmore);
          zmq::message_t reply(blob.data(), blob.size(), &NoFree, nullptr);
          router.send(reply, zmq::send_flags::none);
        }
        for (auto& d : dealers) {
          zmq::message_t reply;
          while (d.recv(reply, zmq::recv_flags::dontwait)) {
            if (verify) sink.fetch_xor(Hash64(reply.data(), reply.size()));
            if (measuring.load(std::memory_order_relaxed)) {
              bytes.fetch_add(reply.size(), std::memory_order_relaxed);
              blobs.fetch_add(1, std::memory_order_relaxed);
            }
            d.send(zmq::buffer(&request, 8));
          }
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  measuring = true;
  const Steady::time_point t0 = Steady::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  stop = true;
  for (std::thread& t : threads) t.join();
  for (auto& r : routers) r.close();
  return {static_cast<double>(bytes.load()) / elapsed / 1e6,
          static_cast<double>(blobs.load()) / elapsed, 0};
}

}  // namespace
}  // namespace shardmesh::mesh

int main(int argc, char** argv) {
  using namespace shardmesh::mesh;
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  std::printf("median of %d alternating runs of %.1f s each per case\n", reps, seconds);
  std::printf("%-5s %-8s %14s %12s %14s %12s %7s %15s %12s %s\n", "nodes", "blob", "exchange MB/s",
              "blobs/s", "raw zmq MB/s", "blobs/s", "ratio", "raw+xxh3 MB/s", "ratio(+xxh3)",
              "fetch failures");
  // Optional filters: only this node count / blob size in KiB (0: all).
  const int only_nodes = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::size_t only_kib = argc > 4 ? static_cast<std::size_t>(std::atol(argv[4])) : 0;
  for (int nodes : {2, 4}) {
    for (std::size_t size : {std::size_t{64} << 10, std::size_t{1} << 20}) {
      if ((only_nodes != 0 && nodes != only_nodes) || (only_kib != 0 && size != only_kib << 10)) {
        continue;
      }
      // Alternate raw and exchange runs and keep the median of each: on a shared machine the
      // load drifts between runs, and alternating exposes both to the same drift.
      std::vector<Result2> raws, hashed, exs;
      for (int rep = 0; rep < reps; ++rep) {
        raws.push_back(RunRaw(nodes, size, seconds, /*verify=*/false));
        hashed.push_back(RunRaw(nodes, size, seconds, /*verify=*/true));
        exs.push_back(RunExchange(nodes, size, seconds));
      }
      const Result2 raw = Median(raws);
      const Result2 raw_hashed = Median(hashed);
      Result2 ex = Median(exs);
      ex.failures = 0;
      for (const Result2& r : exs) ex.failures += r.failures;
      std::printf("%-5d %-8s %14.0f %12.0f %14.0f %12.0f %7.2f %15.0f %12.2f %llu\n", nodes,
                  size == (1u << 20) ? "1MiB" : "64KiB", ex.mb_per_s, ex.blobs_per_s, raw.mb_per_s,
                  raw.blobs_per_s, ex.mb_per_s / raw.mb_per_s, raw_hashed.mb_per_s,
                  ex.mb_per_s / raw_hashed.mb_per_s, static_cast<unsigned long long>(ex.failures));
      std::fflush(stdout);
    }
  }
  return 0;
}
