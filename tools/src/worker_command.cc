// `shardmesh worker --config FILE.toml [--<key> value ...]`: runs one mesh member until SIGTERM
// or SIGINT, which make it leave gracefully and exit 0. One log line per membership change.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "config_keys.h"
#include "shardmesh/common/hash.h"
#include "shardmesh/mesh/fault_transport.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/zmq_transport.h"
#include "worker_config.h"
#include "metrics_server.h"
#include "worker_data.h"
#include "worker_metrics.h"

namespace shardmesh::tools {
namespace {

struct WorkerArgs {
  std::string config_path;
  WorkerConfig config;
  ConfigKeys keys;
};

void LogEvent(const mesh::MembershipEvent& e) {
  const auto& m = e.member;
  if (e.kind == mesh::MembershipEventKind::kIdentityConflict) {
    spdlog::warn("member {} identity_conflict: kept {} (incarnation {}), other claimant {}", m.name,
                 m.endpoint, m.incarnation, e.conflicting_endpoint);
    return;
  }
  spdlog::info("member {} {} endpoint={} incarnation={}", m.name,
               mesh::MembershipEventKindName(e.kind), m.endpoint, m.incarnation);
}

int RunWorker(WorkerArgs& args) {
  if (Status s = args.keys.Apply(args.config_path); !s.ok()) {
    spdlog::error("worker config: {}", s.message());
    return 2;
  }
  const WorkerConfig& c = args.config;
  if (Status s = ValidateWorkerConfig(c); !s.ok()) {
    spdlog::error("worker config{}: {}", args.config_path.empty() ? "" : " " + args.config_path,
                  s.message());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [" + c.name + "] %l %v");

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto zmq = mesh::ZmqTransport::Create(ToTransportOptions(c));
  if (!zmq.ok()) {
    spdlog::error("transport: {}", zmq.status().message());
    return 1;
  }
  std::unique_ptr<mesh::Transport> transport = std::move(zmq).value();
  mesh::FaultTransport* fault_transport = nullptr;  // owned by the node once it exists
  if (c.fault_drop_rate > 0 || c.fault_delay.count() > 0 || !c.fault_partition_from.empty()) {
    mesh::FaultOptions f;
    f.drop_rate = c.fault_drop_rate;
    f.delay = c.fault_delay;
    // A partition that starts later is switched on by the timer below.
    if (c.fault_partition_after.count() == 0) f.partition_from = c.fault_partition_from;
    spdlog::warn("fault injection on: drop_rate={} delay={}ms partition_from={}", f.drop_rate,
                 c.fault_delay.count(), fmt::join(f.partition_from, ","));
    auto fault = std::make_unique<mesh::FaultTransport>(std::move(transport), f,
                                                        SystemClock::Instance(), Hash64(c.name));
    fault_transport = fault.get();
    transport = std::move(fault);
  }
  const std::string endpoint = transport->endpoint();
  auto node = mesh::MeshNode::Create(ToMeshOptions(c), std::move(transport));
  if (!node.ok()) {
    spdlog::error("mesh: {}", node.status().message());
    return 2;
  }
  const bool data = !c.data_dir.empty();
  DataWorker worker;
  if (data) {
    if (Status s = AttachExchange(worker, **node); !s.ok()) {
      spdlog::error("exchange: {}", s.message());
      return 2;
    }
  }
  (*node)->SetEventHandler([&worker](const mesh::MembershipEvent& e) {
    LogEvent(e);
    if (worker.placement) worker.placement->Wake();
  });
  if (Status s = (*node)->Start(c.seeds); !s.ok()) {
    spdlog::error("mesh start: {}", s.message());
    return 1;
  }
  spdlog::info("worker {} listening on {} (seeds: {})", c.name, endpoint,
               c.seeds.empty() ? "none" : fmt::format("{}", fmt::join(c.seeds, ",")));
  // Timed partition (tests): cut off fault_partition_from after fault_partition_after, heal
  // after fault_partition_for. Both switches run on the loop thread, which owns the transport.
  std::thread healer;
  std::mutex heal_mu;
  std::condition_variable heal_cv;
  bool heal_cancel = false;
  const bool timed = c.fault_partition_after.count() > 0 || c.fault_partition_for.count() > 0;
  if (fault_transport != nullptr && timed && !c.fault_partition_from.empty()) {
    healer = std::thread([&, node_ptr = node->get()] {
      std::unique_lock lock(heal_mu);
      auto switch_to = [&](std::vector<std::string> peers, const char* what) {
        node_ptr->Post([fault_transport, peers, what](mesh::Transport&) {
          fault_transport->SetPartitionFrom(peers);
          spdlog::warn("fault injection: partition {}", what);
        });
      };
      if (c.fault_partition_after.count() > 0) {
        if (heal_cv.wait_for(lock, c.fault_partition_after, [&] { return heal_cancel; })) return;
        switch_to(c.fault_partition_from, "started");
      }
      if (c.fault_partition_for.count() == 0) return;
      if (heal_cv.wait_for(lock, c.fault_partition_for, [&] { return heal_cancel; })) return;
      switch_to({}, "healed");
    });
  }

  // A signal thread turns SIGTERM/SIGINT into a stop flag, so a worker busy consuming epochs
  // stops between samples as well as one that only serves.
  std::atomic<bool> stop{false};
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  int sig = 0;
  std::thread signals([&] {
    int got = 0;
    sigwait(&stop_signals, &got);
    std::lock_guard lock(stop_mu);
    sig = got;
    stop = true;
    stop_cv.notify_all();
  });
  int code = 0;
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> metrics;
  if (data) {
    if (Status s = StartStore(c, worker, **node); !s.ok()) {
      spdlog::error("shard store: {}", s.message());
      code = 1;
    }
  }
  if (code == 0 && c.metrics_port >= 0) {
    Status registered = RegisterWorkerMetrics(registry, worker, **node);
    auto started = registered.ok()
                       ? MetricsServer::Start("127.0.0.1", static_cast<int>(c.metrics_port), registry)
                       : Result<std::unique_ptr<MetricsServer>>(registered);
    if (!started.ok()) {
      spdlog::error("metrics: {}", started.status().message());
      code = 2;
    } else {
      metrics = std::move(started).value();
      spdlog::info("metrics on http://127.0.0.1:{}/metrics", metrics->port());
    }
  }
  if (code == 0 && data && c.epochs > 0) code = ConsumeEpochs(c, worker, **node, stop);
  if (code == 0 && (!data || c.epochs == 0 || c.serve_after)) {
    std::unique_lock lock(stop_mu);
    stop_cv.wait(lock, [&] { return stop.load(); });
  }
  if (stop) spdlog::info("signal {}: leaving the mesh", sig);
  // Stop the data side before the node: the loader and placement use it. The metrics server
  // goes first, as its scrapes read all of them.
  metrics.reset();
  worker.live_loader = nullptr;
  worker.loader.reset();
  worker.placement.reset();
  const auto drain = ToMeshOptions(c).probe_interval;
  if (Status s = (*node)->Leave(drain); !s.ok()) spdlog::warn("leave: {}", s.message());
  worker.exchange.reset();
  spdlog::info("worker {} stopped", c.name);
  if (!stop) pthread_kill(signals.native_handle(), SIGTERM);
  signals.join();
  if (healer.joinable()) {
    {
      std::lock_guard lock(heal_mu);
      heal_cancel = true;
    }
    heal_cv.notify_all();
    healer.join();
  }
  return code;
}

}  // namespace

void RegisterWorker(CLI::App& app) {
  auto args = std::make_shared<WorkerArgs>();
  CLI::App* cmd = app.add_subcommand("worker", "Run one mesh worker until SIGTERM/SIGINT");
  cmd->add_option("--config", args->config_path, "TOML config file (keys below)");
  BindWorkerKeys(args->keys, &args->config);
  args->keys.AddFlags(*cmd);
  cmd->callback([args] { SetExitCode(RunWorker(*args)); });
}

}  // namespace shardmesh::tools
