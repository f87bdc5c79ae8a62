// Mesh block exchange throughput between real processes on 127.0.0.1, beside raw ZeroMQ
// measured in the same run (issue 4's benchmark). For each (N, blob size), N child processes
// each serve K in-memory blobs of that size and stream remote blobs from every other child at
// once, for the same wall-clock window:
//   mesh: a MeshNode (Local profile, joined through child 0) with a BlockExchange attached;
//         a driver thread keeps `window` fetches in flight per peer through FetchMany
//         (xxh3-verified, the blob a zero-copy attachment frame).
//   raw:  one thread with a cppzmq ROUTER and one DEALER per peer: 8-byte requests, the reply
//         one zero-copy frame of the same size, the same `window` requests in flight per peer,
//         no checksum, no membership.
//   stream: raw ZeroMQ PUSH/PULL, every child pushing blobs to every other with `window`
//         messages of high-water mark per peer: no request at all, the ceiling of the machine.
// Runs alternate raw, stream and mesh; the rates printed are the median of each, the ratios
// the median of the per-run ratios, so all see the same drift of a shared machine. Children are
// this binary started again with --role; each counts the bytes of blobs completed inside the common
// window [T0, T1] (system clock, set by the parent) and prints one RESULT line. The parent kills
// any child still alive after T1 + 15 s.
//
// Usage: mesh_bench_driver [--seconds 3] [--runs 3] [--nodes 2,4] [--kib 64,1024]
//                          [--window 8] [--server-threads 0] [--consumer-batch 1] [--verbose 1]
//                          [--roles raw,push,mesh] [--sample-bytes 1544]
// Output: one line per (N, size): mesh MB/s, blocks/s and samples/s, raw MB/s and blocks/s,
// mesh/raw, stream MB/s and mesh/stream.
// MB is 10^6 bytes; a block is one blob; samples/s is MB/s over --sample-bytes (default: one
// sample of `shardmesh gen`'s default schema decompressed, 1544 bytes).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "process.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/zmq_transport.h"
#include "synthetic_blobs.h"

namespace shardmesh::mesh {
namespace {

using Wall = std::chrono::system_clock;
using std::chrono::milliseconds;
// Children keep serving this long after T1, so peers finishing their last fetches still get
// answers, and then exit.
constexpr milliseconds kGrace{500};
// Time the parent gives children to start, bind, join and warm up before T0.
constexpr milliseconds kWarmUp{1500};

struct ChildConfig {
  std::string role;  // "mesh", "raw" or "push"
  int index = 0;
  std::vector<std::string> endpoints;  // every child's inbox, by index
  std::size_t size = 0;
  std::size_t window = 8;
  std::size_t server_threads = 0;
  std::size_t consumer_batch = 1;
  Wall::time_point t0, t1;
};

struct Counts {
  std::uint64_t bytes = 0;  // inside [T0, T1]
  std::uint64_t blobs = 0;
  std::uint64_t failures = 0;
  std::uint64_t all_bytes = 0;  // over the child's life, warm-up and grace included
};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::int64_t ToMillis(Wall::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
Wall::time_point FromMillis(std::int64_t ms) { return Wall::time_point(milliseconds(ms)); }

bool InWindow(const ChildConfig& c, Wall::time_point t) { return t >= c.t0 && t < c.t1; }

void PrintResult(const Counts& c) {
  std::printf("RESULT bytes=%llu blobs=%llu failures=%llu all_bytes=%llu\n",
              static_cast<unsigned long long>(c.bytes), static_cast<unsigned long long>(c.blobs),
              static_cast<unsigned long long>(c.failures),
              static_cast<unsigned long long>(c.all_bytes));
}

std::vector<std::string> Peers(const ChildConfig& c) {
  std::vector<std::string> peers;
  for (std::size_t j = 0; j < c.endpoints.size(); ++j) {
    if (static_cast<int>(j) != c.index) peers.push_back(c.endpoints[j]);
  }
  return peers;
}

// The mesh child: MeshNode + BlockExchange, a driver thread streaming from every peer.
int RunMeshChild(const ChildConfig& c) {
  ZmqTransportOptions topt;
  topt.bind = c.endpoints[static_cast<std::size_t>(c.index)];
  topt.linger = milliseconds(0);
  auto transport = ZmqTransport::Create(topt);
  if (!transport.ok()) {
    std::printf("ERROR transport: %s\n", transport.status().ToString().c_str());
    return 1;
  }
  MeshOptions mopt = MeshOptions::Local();
  mopt.name = "w" + std::to_string(c.index);
  auto node = MeshNode::Create(mopt, std::move(transport).value());
  if (!node.ok()) {
    std::printf("ERROR node: %s\n", node.status().ToString().c_str());
    return 1;
  }
  SyntheticBlobs provider(c.size);
  const std::vector<std::string> peers = Peers(c);
  ExchangeOptions eopt;
  eopt.server_threads = c.server_threads;
  eopt.window_per_peer = c.window;
  eopt.window_total = c.window * peers.size();
  eopt.fetch.per_try_timeout = std::chrono::seconds(10);
  auto exchange = BlockExchange::Create(eopt, &provider);
  if (!exchange.ok()) {
    std::printf("ERROR exchange: %s\n", exchange.status().ToString().c_str());
    return 1;
  }
  if (Status s = (*exchange)->Attach(**node); !s.ok()) {
    std::printf("ERROR attach: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<std::string> seeds;
  if (c.index != 0) seeds.push_back(c.endpoints[0]);
  if (Status s = (*node)->Start(seeds); !s.ok()) {
    std::printf("ERROR start: %s\n", s.ToString().c_str());
    return 1;
  }
  // Stream only once every member is known, as a loader would; bounded by T0.
  while (Wall::now() < c.t0 && (*node)->LiveMembers().size() < c.endpoints.size()) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  const std::size_t members_at_start = (*node)->LiveMembers().size();

  Counts counts;
  std::atomic<bool> stop_issuing{false};
  std::thread driver([&] {
    BlockExchange& ex = **exchange;
    std::deque<std::future<Result<SharedBytes>>> in_flight;
    std::uint64_t next = 0;
    // Twice the credit queued, so the exchange never waits for the driver to ask again.
    const std::size_t depth = 2 * c.window * peers.size();
    auto issue = [&](std::size_t n) {
      std::vector<BlockExchange::FetchRequest> requests;
      for (std::size_t k = 0; k < n; ++k, ++next) {
        requests.push_back({SyntheticBlobName(next), {peers[next % peers.size()]}});
      }
      for (auto& f : ex.FetchMany(std::move(requests), eopt.fetch)) {
        in_flight.push_back(std::move(f));
      }
    };
    issue(depth);
    while (!in_flight.empty()) {
      std::size_t done = 0;
      // Sleep until `consumer_batch` fetches are done (answers come in order per peer), take
      // those and every later one already finished, and reissue them as one batch.
      in_flight[std::min(in_flight.size(), c.consumer_batch) - 1].wait();
      do {
        Result<SharedBytes> r = in_flight.front().get();
        in_flight.pop_front();
        ++done;
        if (!r.ok()) {
          if (!stop_issuing.load()) ++counts.failures;
          continue;
        }
        counts.all_bytes += r->size();
        if (InWindow(c, Wall::now())) {
          counts.bytes += r->size();
          ++counts.blobs;
        }
      } while (!in_flight.empty() &&
               in_flight.front().wait_for(std::chrono::seconds(0)) == std::future_status::ready);
      if (!stop_issuing.load() && Wall::now() < c.t1) issue(done);
    }
  });
  std::this_thread::sleep_until(c.t1 + kGrace);
  stop_issuing = true;
  (*node)->Stop();
  exchange->reset();  // fails what is still in flight with Aborted, so the driver ends
  driver.join();
  if (members_at_start < c.endpoints.size()) {
    std::printf("WARNING only %zu of %zu members known at T0\n", members_at_start,
                c.endpoints.size());
  }
  PrintResult(counts);
  return 0;
}

void NoFree(void*, void*) {}

// The raw child: one thread polling a ROUTER (serving) and a DEALER per peer (fetching).
int RunRawChild(const ChildConfig& c) {
  std::vector<std::uint8_t> blob(c.size, 0x5a);
  Counts counts;
  try {
    zmq::context_t context(1);
    zmq::socket_t router(context, zmq::socket_type::router);
    router.set(zmq::sockopt::linger, 0);
    router.bind(c.endpoints[static_cast<std::size_t>(c.index)]);
    std::vector<zmq::socket_t> dealers;
    for (const std::string& peer : Peers(c)) {
      dealers.emplace_back(context, zmq::socket_type::dealer);
      dealers.back().set(zmq::sockopt::linger, 0);
      dealers.back().connect(peer);
    }
    const std::uint64_t request = 1;
    for (auto& d : dealers) {
      for (std::size_t k = 0; k < c.window; ++k) d.send(zmq::buffer(&request, 8));
    }
    std::vector<zmq::pollitem_t> items;
    items.push_back({router.handle(), 0, ZMQ_POLLIN, 0});
    for (auto& d : dealers) items.push_back({d.handle(), 0, ZMQ_POLLIN, 0});
    while (Wall::now() < c.t1 + kGrace) {
      zmq::poll(items, milliseconds(1));
      zmq::message_t id, body;
      while (router.recv(id, zmq::recv_flags::dontwait)) {
        (void)router.recv(body, zmq::recv_flags::none);
        router.send(id, zmq::send_flags::sndmore);
        zmq::message_t reply(blob.data(), blob.size(), &NoFree, nullptr);
        router.send(reply, zmq::send_flags::none);
      }
      const bool issuing = Wall::now() < c.t1;
      for (auto& d : dealers) {
        zmq::message_t reply;
        while (d.recv(reply, zmq::recv_flags::dontwait)) {
          counts.all_bytes += reply.size();
          if (InWindow(c, Wall::now())) {
            counts.bytes += reply.size();
            ++counts.blobs;
          }
          if (issuing) d.send(zmq::buffer(&request, 8));
        }
      }
    }
  } catch (const zmq::error_t& e) {
    std::printf("ERROR raw zmq: %s\n", e.what());
    return 1;
  }
  PrintResult(counts);
  return 0;
}

// The streaming child: a PULL inbox and one PUSH connected to every peer, which ZeroMQ feeds
// round robin. No requests at all, so this is the most raw ZeroMQ can move here; the high-water
// marks hold `window` messages per peer, the depth the other roles keep in flight.
int RunPushChild(const ChildConfig& c) {
  std::vector<std::uint8_t> blob(c.size, 0x5a);
  Counts counts;
  try {
    zmq::context_t context(1);
    zmq::socket_t pull(context, zmq::socket_type::pull);
    pull.set(zmq::sockopt::linger, 0);
    pull.set(zmq::sockopt::rcvhwm, static_cast<int>(c.window));
    pull.bind(c.endpoints[static_cast<std::size_t>(c.index)]);
    zmq::socket_t push(context, zmq::socket_type::push);
    push.set(zmq::sockopt::linger, 0);
    push.set(zmq::sockopt::sndhwm, static_cast<int>(c.window));
    for (const std::string& peer : Peers(c)) push.connect(peer);
    zmq::pollitem_t items[] = {{pull.handle(), 0, ZMQ_POLLIN, 0},
                               {push.handle(), 0, ZMQ_POLLOUT, 0}};
    while (Wall::now() < c.t1 + kGrace) {
      const bool issuing = Wall::now() < c.t1;
      items[1].events = issuing ? ZMQ_POLLOUT : 0;
      zmq::poll(items, 2, milliseconds(1));
      zmq::message_t message;
      while (pull.recv(message, zmq::recv_flags::dontwait)) {
        counts.all_bytes += message.size();
        if (InWindow(c, Wall::now())) {
          counts.bytes += message.size();
          ++counts.blobs;
        }
      }
      while (issuing) {
        zmq::message_t out(blob.data(), blob.size(), &NoFree, nullptr);
        if (!push.send(out, zmq::send_flags::dontwait)) break;
      }
    }
  } catch (const zmq::error_t& e) {
    std::printf("ERROR push zmq: %s\n", e.what());
    return 1;
  }
  PrintResult(counts);
  return 0;
}

std::optional<Counts> ParseResult(const std::string& log) {
  const std::size_t at = log.rfind("RESULT ");
  if (at == std::string::npos) return std::nullopt;
  unsigned long long bytes = 0, blobs = 0, failures = 0, all_bytes = 0;
  if (std::sscanf(log.c_str() + at, "RESULT bytes=%llu blobs=%llu failures=%llu all_bytes=%llu",
                  &bytes, &blobs, &failures, &all_bytes) != 4) {
    return std::nullopt;
  }
  return Counts{bytes, blobs, failures, all_bytes};
}

struct RunResult {
  double mb_per_s = 0;
  double blobs_per_s = 0;
  // CPU seconds (user + system, all children) per GB received over the children's lives: on
  // a shared machine a steadier measure of the work per byte than the rate itself.
  double cpu_s_per_gb = 0;
  std::uint64_t failures = 0;
  bool ok = true;
};

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// What every run of a (N, size) case shares, from the command line.
struct Settings {
  double seconds = 3;
  std::size_t window = 8;
  std::size_t server_threads = 0;
  std::size_t consumer_batch = 1;
};

// Starts `nodes` children of `role`, waits for them (bounded) and sums their counts.
RunResult RunOnce(const std::string& role, int nodes, std::size_t size, const Settings& set) {
  using namespace shardmesh::testing;
  TempDir dir("mesh_bench_");
  rusage before{};
  ::getrusage(RUSAGE_CHILDREN, &before);
  std::string endpoints;
  for (int i = 0; i < nodes; ++i) {
    if (i > 0) endpoints += ",";
    endpoints += "tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  }
  const Wall::time_point t0 = Wall::now() + kWarmUp;
  const Wall::time_point t1 =
      t0 + std::chrono::duration_cast<Wall::duration>(std::chrono::duration<double>(set.seconds));
  std::vector<ChildProcess> children;
  for (int i = 0; i < nodes; ++i) {
    children.emplace_back(
        std::vector<std::string>{
            SelfPath(), "--role", role, "--index", std::to_string(i), "--endpoints", endpoints,
            "--size", std::to_string(size), "--window", std::to_string(set.window),
            "--server-threads", std::to_string(set.server_threads), "--consumer-batch",
            std::to_string(set.consumer_batch), "--t0", std::to_string(ToMillis(t0)), "--t1",
            std::to_string(ToMillis(t1))},
        dir.path() + "/" + role + std::to_string(i) + ".log");
  }
  RunResult result;
  Counts total;
  const auto limit = t1 + std::chrono::seconds(15);
  for (ChildProcess& child : children) {
    const auto left = std::chrono::duration_cast<milliseconds>(limit - Wall::now());
    const std::optional<int> code = child.Wait(std::max(left, milliseconds(0)));
    const std::optional<Counts> counts = ParseResult(child.ReadLog());
    if (!code || *code != 0 || !counts) {
      std::fprintf(stderr, "%s child %d failed (%s): %s\n", role.c_str(), child.pid(),
                   code ? ("exit " + std::to_string(*code)).c_str() : "timed out, killed",
                   child.ReadLog().c_str());
      result.ok = false;
      continue;  // the ChildProcess destructor kills and reaps it
    }
    total.bytes += counts->bytes;
    total.blobs += counts->blobs;
    total.failures += counts->failures;
    total.all_bytes += counts->all_bytes;
  }
  children.clear();  // kills and reaps any child left, so its CPU time is counted below
  rusage after{};
  ::getrusage(RUSAGE_CHILDREN, &after);
  auto seconds_of = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
  };
  const double cpu = seconds_of(after.ru_utime) - seconds_of(before.ru_utime) +
                     seconds_of(after.ru_stime) - seconds_of(before.ru_stime);
  if (total.all_bytes > 0) result.cpu_s_per_gb = cpu / (static_cast<double>(total.all_bytes) / 1e9);
  const double elapsed = std::chrono::duration<double>(t1 - t0).count();
  result.mb_per_s = static_cast<double>(total.bytes) / elapsed / 1e6;
  result.blobs_per_s = static_cast<double>(total.blobs) / elapsed;
  result.failures = total.failures;
  return result;
}

// The median of each figure on its own (the run with the median rate need not be the one
// with the median CPU cost).
RunResult Median(const std::vector<RunResult>& runs) {
  auto median_of = [&](double RunResult::*field) {
    std::vector<double> v;
    for (const RunResult& r : runs) v.push_back(r.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  RunResult m;
  m.mb_per_s = median_of(&RunResult::mb_per_s);
  m.blobs_per_s = median_of(&RunResult::blobs_per_s);
  m.cpu_s_per_gb = median_of(&RunResult::cpu_s_per_gb);
  for (const RunResult& r : runs) {
    m.failures += r.failures;
    m.ok = m.ok && r.ok;
  }
  return m;
}

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}

int RunChild(int argc, char** argv) {
  ChildConfig c;
  c.role = Flag(argc, argv, "--role", "");
  c.index = std::atoi(Flag(argc, argv, "--index", "0").c_str());
  c.endpoints = Split(Flag(argc, argv, "--endpoints", ""), ',');
  c.size = std::strtoull(Flag(argc, argv, "--size", "65536").c_str(), nullptr, 10);
  c.window = std::strtoull(Flag(argc, argv, "--window", "8").c_str(), nullptr, 10);
  c.server_threads = std::strtoull(Flag(argc, argv, "--server-threads", "0").c_str(), nullptr, 10);
  c.consumer_batch = std::strtoull(Flag(argc, argv, "--consumer-batch", "1").c_str(), nullptr, 10);
  c.t0 = FromMillis(std::atoll(Flag(argc, argv, "--t0", "0").c_str()));
  c.t1 = FromMillis(std::atoll(Flag(argc, argv, "--t1", "0").c_str()));
  if (c.endpoints.size() < 2 || c.index < 0 || c.index >= static_cast<int>(c.endpoints.size()) ||
      c.size == 0 || c.window == 0 || c.consumer_batch == 0) {
    std::printf("ERROR bad child arguments\n");
    return 2;
  }
  if (c.role == "mesh") return RunMeshChild(c);
  if (c.role == "push") return RunPushChild(c);
  return RunRawChild(c);
}

}  // namespace
}  // namespace shardmesh::mesh

int main(int argc, char** argv) {
  using namespace shardmesh::mesh;
  if (!Flag(argc, argv, "--role", "").empty()) return RunChild(argc, argv);
  Settings set;
  set.seconds = std::atof(Flag(argc, argv, "--seconds", "3").c_str());
  const int runs = std::max(1, std::atoi(Flag(argc, argv, "--runs", "3").c_str()));
  set.window = std::strtoull(Flag(argc, argv, "--window", "8").c_str(), nullptr, 10);
  set.server_threads =
      std::strtoull(Flag(argc, argv, "--server-threads", "0").c_str(), nullptr, 10);
  // --consumer-batch B: the mesh children's consumer sleeps until B fetches are done instead of
  // waking for each one (1: a consumer that needs every block as soon as it arrives).
  set.consumer_batch =
      std::strtoull(Flag(argc, argv, "--consumer-batch", "1").c_str(), nullptr, 10);
  // --verbose 1: every run's figures on stderr, to see the spread behind each median.
  const bool verbose = Flag(argc, argv, "--verbose", "0") != "0";
  // --roles mesh: run only some of raw, push (stream) and mesh, e.g. under a profiler.
  const std::string roles = Flag(argc, argv, "--roles", "raw,push,mesh");
  std::vector<int> node_counts;
  for (const std::string& n : Split(Flag(argc, argv, "--nodes", "2,4"), ',')) {
    node_counts.push_back(std::atoi(n.c_str()));
  }
  const double sample_bytes = std::atof(Flag(argc, argv, "--sample-bytes", "1544").c_str());
  std::vector<std::size_t> sizes;
  for (const std::string& k : Split(Flag(argc, argv, "--kib", "64,1024"), ',')) {
    sizes.push_back(std::strtoull(k.c_str(), nullptr, 10) << 10);
  }
  if (sample_bytes <= 0 || set.seconds <= 0 || set.window == 0 || set.consumer_batch == 0 ||
      node_counts.empty() || sizes.empty()) {
    std::fprintf(stderr,
                 "usage: mesh_bench_driver [--seconds 3] [--runs 3] [--nodes 2,4] [--kib 64,1024] "
                 "[--window 8] [--server-threads 0] [--consumer-batch 1] [--verbose 1] "
                 "[--roles raw,push,mesh] [--sample-bytes 1544]\n");
    return 2;
  }
  std::printf(
      "processes on 127.0.0.1; window %zu per peer; consumer batch %zu; medians of %d "
      "alternating runs of %.1f s (ratios: median of per-run ratios); MB = 1e6 bytes; "
      "block = one blob; samples/s = bytes/s / %.0f\n",
      set.window, set.consumer_batch, runs, set.seconds, sample_bytes);
  std::printf("%-5s %-6s %10s %9s %10s %10s %9s %6s %11s %6s %13s %12s %s\n", "procs", "blob",
              "mesh MB/s", "blocks/s", "samples/s", "raw MB/s", "blocks/s", "ratio", "stream MB/s",
              "ratio", "mesh cpu s/GB", "raw cpu s/GB", "fetch failures");
  bool all_ok = true;
  for (int nodes : node_counts) {
    for (std::size_t size : sizes) {
      if (nodes < 2) continue;
      std::vector<RunResult> raws, streams, meshes;
      for (int run = 0; run < runs; ++run) {
        auto run_if = [&](const char* role, std::vector<RunResult>& into) {
          into.push_back(roles.find(role) == std::string::npos ? RunResult{}
                                                               : RunOnce(role, nodes, size, set));
        };
        run_if("raw", raws);
        run_if("push", streams);
        run_if("mesh", meshes);
      }
      if (verbose) {
        std::fflush(stdout);
        for (int run = 0; run < runs; ++run) {
          std::fprintf(stderr,
                       "  run %d: %d procs, %zu KiB: raw %.0f, stream %.0f, mesh %.0f MB/s; "
                       "cpu s/GB raw %.2f, stream %.2f, mesh %.2f\n",
                       run + 1, nodes, size >> 10, raws[run].mb_per_s, streams[run].mb_per_s,
                       meshes[run].mb_per_s, raws[run].cpu_s_per_gb, streams[run].cpu_s_per_gb,
                       meshes[run].cpu_s_per_gb);
        }
      }
      const RunResult raw = Median(raws);
      const RunResult stream = Median(streams);
      const RunResult mesh = Median(meshes);
      const bool ok = raw.ok && stream.ok && mesh.ok;
      all_ok = all_ok && ok;
      const std::string blob = size % (1u << 20) == 0 ? std::to_string(size >> 20) + "MiB"
                                                      : std::to_string(size >> 10) + "KiB";
      // Median of the per-run ratios: the runs of one repetition follow each other within
      // seconds, so pairing them cancels most of the load drift between repetitions.
      auto ratio = [&](const std::vector<RunResult>& base) {
        std::vector<double> r;
        for (int run = 0; run < runs; ++run) {
          r.push_back(base[run].mb_per_s > 0 ? meshes[run].mb_per_s / base[run].mb_per_s : 0.0);
        }
        std::sort(r.begin(), r.end());
        return r[r.size() / 2];
      };
      std::printf(
          "%-5d %-6s %10.0f %9.0f %10.0f %10.0f %9.0f %6.2f %11.0f %6.2f %13.2f %12.2f %llu%s\n",
          nodes, blob.c_str(), mesh.mb_per_s, mesh.blobs_per_s, mesh.mb_per_s * 1e6 / sample_bytes,
          raw.mb_per_s, raw.blobs_per_s, ratio(raws), stream.mb_per_s, ratio(streams),
          mesh.cpu_s_per_gb, raw.cpu_s_per_gb, static_cast<unsigned long long>(mesh.failures),
          ok ? "" : "  (a child failed; see stderr)");
      std::fflush(stdout);
    }
  }
  return all_ok ? 0 : 1;
}
