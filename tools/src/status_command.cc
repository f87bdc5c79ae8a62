// `shardmesh status --connect ENDPOINT [--json] [--timeout 3s] [--config FILE]`: asks a running
// worker for its view of the mesh and prints it as a table or as JSON. --config supplies the
// CurveZMQ keys of a secured mesh (the same file a worker uses).
#include <chrono>
#include <iostream>

#include "commands.h"
#include "config_keys.h"
#include "shardmesh/mesh/mesh_status.h"
#include "shardmesh/mesh/status_client.h"
#include "worker_config.h"

namespace shardmesh::tools {
namespace {

struct StatusArgs {
  std::string connect;
  bool json = false;
  std::string timeout = "3s";
  std::string config_path;
};

int RunStatus(const StatusArgs& args) {
  // Usage and config errors (exit 2) before any network wait.
  auto timeout = ParseDuration(args.timeout);
  Status usage = timeout.ok() ? Status::OK() : timeout.status().WithContext("--timeout");
  if (usage.ok() && timeout->count() <= 0) {
    usage = Status::InvalidArgument("--timeout: must be positive, got '" + args.timeout + "'");
  }
  if (usage.ok()) usage = CheckEndpoint("--connect", args.connect, 1, false);
  WorkerConfig config;
  ConfigKeys keys;
  BindWorkerKeys(keys, &config);
  if (usage.ok() && !args.config_path.empty()) usage = keys.Apply(args.config_path);
  if (!usage.ok()) {
    std::cerr << "shardmesh status: " << usage.message() << "\n";
    return 2;
  }
  auto status = mesh::QueryMeshStatus(args.connect, *timeout, ToTransportOptions(config));
  if (!status.ok()) {
    std::cerr << "shardmesh status: " << status.status().message() << "\n";
    return 1;
  }
  std::cout << (args.json ? mesh::MeshStatusToJson(*status) + "\n"
                          : mesh::MeshStatusToTable(*status));
  return 0;
}

}  // namespace

void RegisterStatus(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = app.add_subcommand("status", "Show a running worker's view of the mesh");
  cmd->add_option("--connect", args->connect, "worker endpoint, e.g. tcp://127.0.0.1:7101")
      ->required();
  cmd->add_flag("--json", args->json, "machine-readable output");
  cmd->add_option("--timeout", args->timeout, "how long to wait for the reply")->default_str("3s");
  cmd->add_option("--config", args->config_path, "worker config with the mesh's curve keys");
  cmd->callback([args] { SetExitCode(RunStatus(*args)); });
}

}  // namespace shardmesh::tools
