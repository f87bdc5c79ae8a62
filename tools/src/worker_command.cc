// `shardmesh worker --config FILE.toml [--<key> value ...]`: runs one mesh member. With
// data_dir it is a data worker (a MeshJob: store, placement, loader) that consumes `epochs`
// epochs and exits 0, or keeps serving (serve_after, or epochs = 0) until SIGTERM/SIGINT,
// which make it leave gracefully and exit 0. One log line per membership change.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "config_keys.h"
#include "metrics_server.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/zmq_transport.h"
#include "worker_config.h"
#include "worker_data.h"
#include "worker_faults.h"
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

// SIGTERM/SIGINT (blocked in every thread by the constructor's caller) become a stop flag, so
// a worker busy consuming epochs stops between samples as well as one that only serves.
class StopSignals {
 public:
  explicit StopSignals(sigset_t set) : set_(set) {
    thread_ = std::thread([this] {
      int got = 0;
      sigwait(&set_, &got);
      std::lock_guard lock(mu_);
      signal_ = got;
      stop_ = true;
      cv_.notify_all();
    });
  }
  ~StopSignals() {
    if (!stop_) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return stop_.load(); });
  }
  const std::atomic<bool>& flag() const { return stop_; }
  int signal() const { return signal_; }

 private:
  sigset_t set_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  int signal_ = 0;
  std::thread thread_;
};

// "<where the value came from>: " for a validation error about "key 'K'": the file, the
// environment variable or the flag that set K ("" for a default, which the message covers).
std::string SourceOfError(const WorkerArgs& args, const std::string& message) {
  const std::size_t at = message.find("key '");
  if (at == std::string::npos) return args.config_path.empty() ? "" : args.config_path + ": ";
  const std::size_t end = message.find('\'', at + 5);
  std::string key = message.substr(at + 5, end - at - 5);
  if (const std::size_t item = key.find('['); item != std::string::npos) {
    key.resize(item);  // "allowed_peers[0]": an item of the list key allowed_peers
  }
  const std::string source = args.keys.SourceOf(key);
  return source.empty() ? "" : source + ": ";
}

int RunWorker(WorkerArgs& args) {
  // Logs (config errors included) go to stderr; stdout keeps only the run's summary line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("worker"));
  if (Status s = args.keys.Apply(args.config_path); !s.ok()) {
    spdlog::error("worker config: {}", s.message());
    return 2;
  }
  // Variables of our own scripts and tests share the prefix; they are not typos.
  static const std::set<std::string> kToolVariables = {
      "SHARDMESH_BIN",      "SHARDMESH_RUN_DIR",       "SHARDMESH_CLI",
      "SHARDMESH_JOBS",     "SHARDMESH_PROMTOOL",      "SHARDMESH_WITH_PROMTOOL",
      "SHARDMESH_FUZZ_RUNS", "SHARDMESH_FAILURE_TRIALS", "SHARDMESH_KEEP_TEST_DIRS"};
  for (const std::string& var : args.keys.unknown_env()) {
    if (kToolVariables.count(var) > 0) continue;
    spdlog::warn("environment {} names no config key (ignored; see shardmesh worker --help)", var);
  }
  const WorkerConfig& c = args.config;
  if (Status s = ValidateWorkerConfig(c); !s.ok()) {
    spdlog::error("worker config: {}{}", SourceOfError(args, s.message()), s.message());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(c.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e [" + c.name + "] %l %v");

  sigset_t stop_set;
  sigemptyset(&stop_set);
  sigaddset(&stop_set, SIGTERM);
  sigaddset(&stop_set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_set, nullptr);
  StopSignals signals(stop_set);

  auto zmq = mesh::ZmqTransport::Create(ToTransportOptions(c));
  if (!zmq.ok()) {
    // Bad or mismatched curve keys are config errors (exit 2, naming where they came from); a
    // bind that fails (port in use) is a runtime one.
    if (zmq.status().IsInvalidArgument()) {
      spdlog::error("worker config: {}{}", SourceOfError(args, zmq.status().message()),
                    zmq.status().message());
      return 2;
    }
    spdlog::error("transport: {}", zmq.status().message());
    return 1;
  }
  const std::string endpoint = (*zmq)->endpoint();
  mesh::FaultTransport* fault = nullptr;  // owned by the node
  std::unique_ptr<mesh::Transport> transport = WithFaults(c, std::move(zmq).value(), &fault);

  std::unique_ptr<loader::MeshJob> job;
  std::unique_ptr<mesh::MeshNode> plain_node;  // a membership-only worker's
  if (!c.data_dir.empty()) {
    auto started = StartJob(c, std::move(transport), LogEvent, &signals.flag());
    if (!started.ok()) {
      if (signals.flag()) {  // stopped while starting: the node has left already
        spdlog::info("signal {}: stopped before the job started ({})", signals.signal(),
                     started.status().message());
        return 0;
      }
      spdlog::error("{}", started.status().message());
      return started.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    job = std::move(started).value();
  } else {
    auto created = mesh::MeshNode::Create(ToMeshOptions(c), std::move(transport));
    if (!created.ok()) {
      spdlog::error("mesh: {}", created.status().message());
      return 2;
    }
    plain_node = std::move(created).value();
    plain_node->SetEventHandler(LogEvent);
    if (Status s = plain_node->Start(c.seeds); !s.ok()) {
      spdlog::error("mesh start: {}", s.message());
      return 1;
    }
  }
  mesh::MeshNode& node = job ? job->node() : *plain_node;
  spdlog::info("worker {} listening on {} (seeds: {})", c.name, endpoint,
               c.seeds.empty() ? "none" : fmt::format("{}", fmt::join(c.seeds, ",")));
  PartitionTimer partition_timer(c, node, fault);

  int code = 0;
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> metrics;
  if (c.metrics_port >= 0) {
    Status registered = RegisterWorkerMetrics(registry, node, job.get());
    auto started = registered.ok() ? MetricsServer::Start("127.0.0.1",
                                                          static_cast<int>(c.metrics_port), registry)
                                   : Result<std::unique_ptr<MetricsServer>>(registered);
    if (!started.ok()) {
      // Start's messages begin with "metrics server"; registration's name their metric.
      spdlog::error("{}{}", registered.ok() ? "" : "metrics: ", started.status().message());
      code = started.status().IsInvalidArgument() ? 2 : 1;  // a port in use is not a usage error
    } else {
      metrics = std::move(started).value();
      spdlog::info("metrics on http://127.0.0.1:{}/metrics", metrics->port());
    }
  }
  if (code == 0 && job && c.epochs > 0) code = ConsumeEpochs(c, *job, signals.flag());
  if (code == 0 && (!job || c.epochs == 0 || c.serve_after)) signals.Wait();
  if (signals.flag()) spdlog::info("signal {}: leaving the mesh", signals.signal());
  metrics.reset();  // its scrapes read the job
  const auto drain = ToMeshOptions(c).probe_interval;
  Status left = job ? job->Leave(drain) : node.Leave(drain);
  if (!left.ok()) spdlog::warn("leave: {}", left.message());
  spdlog::info("worker {} stopped", c.name);
  return code;
}

}  // namespace

void RegisterWorker(CLI::App& app) {
  auto args = std::make_shared<WorkerArgs>();
  CLI::App* cmd = app.add_subcommand("worker", "Run one mesh worker (see the config keys)");
  cmd->add_option("--config", args->config_path, "TOML config file (keys below)");
  BindWorkerKeys(args->keys, &args->config);
  args->keys.AddFlags(*cmd);
  cmd->callback([args] { SetExitCode(RunWorker(*args)); });
}

}  // namespace shardmesh::tools
