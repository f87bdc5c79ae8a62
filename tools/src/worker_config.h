// WorkerConfig: every setting of `shardmesh worker`, bound to the config key table so each can
// come from the TOML file, a SHARDMESH_<KEY> environment variable or a --<key> flag.
// Durations left at zero take the value of the selected mesh profile (local or lan).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "config_keys.h"
#include "shardmesh/common/status.h"
#include "shardmesh/mesh/mesh_options.h"
#include "shardmesh/mesh/transport_options.h"

namespace shardmesh::tools {

struct WorkerConfig {
  // Identity and addresses.
  std::string name;                        // unique node name (required)
  std::string bind = "tcp://127.0.0.1:0";  // ROUTER inbox; port 0 picks a free port
  std::string advertise;                   // endpoint peers dial; empty = the bound endpoint
  std::vector<std::string> seeds;          // endpoints to join through, retried for ever
  std::string profile = "local";           // mesh timing profile: local | lan
  // Ring and data placement.
  std::int64_t vnodes = 128;       // virtual nodes per member on the hash ring
  std::int64_t replication = 2;    // copies of each shard (owners(key, R))
  std::int64_t partitions = 1024;  // canonical partitions of an epoch (fixed per job)
  // Data (issue 4): without data_dir the worker is a membership-only member.
  std::string dataset;      // source dataset directory (optional; one worker or a shared path)
  std::string data_dir;     // this worker's local shard store
  std::int64_t epochs = 0;  // epochs to consume (0 = store and serve only)
  std::string strategy = "consistent-hash";  // consistent-hash | global-shuffle
  std::int64_t seed = 0;                     // epoch order seed (same on every worker)
  std::int64_t shuffle_window_blocks = 1;    // blocks per shuffle window
  std::string ids_out;                       // append delivered global indices here, one per line
  bool serve_after = false;                  // keep serving after the last epoch (until SIGTERM)
  bool drop_unowned = false;                 // delete local copies of shards no longer owned
  bool verify_store_at_start = true;         // re-read stored copies' checksums at start
  std::int64_t commit_every = 64;            // commit the stream position every N samples
  std::int64_t min_members = 1;              // an epoch starts once this many members are live
  std::chrono::milliseconds settle{1000};    // ... and the view has been stable this long
  std::chrono::milliseconds start_timeout{60000};       // give up starting an epoch after this
  std::chrono::milliseconds placement_timeout{30000};   // wait this long for owned shards first
  std::chrono::milliseconds read_deadline{10000};       // give up on a block with no live holder
  std::chrono::milliseconds epoch_end_timeout{600000};  // wait for other workers' partitions
  std::string checkpoint_dir;  // stream checkpoints (default <data_dir>/checkpoints)
  std::chrono::milliseconds persist_interval{200};     // save the stream state at most this often
  std::chrono::milliseconds commit_broadcast_gap{20};  // replicate commits at most this often
  std::int64_t consume_rate = 0;   // samples/s the consumer takes (0 = as fast as possible)
  std::int64_t metrics_port = -1;  // Prometheus /metrics on 127.0.0.1 (-1 off, 0 any)
  // Membership timing; 0 = profile default.
  std::chrono::milliseconds probe_interval{0};
  std::chrono::milliseconds probe_timeout{0};
  std::int64_t suspicion_mult = 0;
  std::int64_t indirect_checks = 0;
  std::chrono::milliseconds push_pull_interval{0};
  // Logging.
  std::string log_level = "info";  // trace|debug|info|warn|error|off
  // Fault injection on this worker's transport (tests only).
  double fault_drop_rate = 0.0;                   // probability each message in or out is dropped
  std::chrono::milliseconds fault_delay{0};       // added to every outgoing message
  std::vector<std::string> fault_partition_from;  // names/endpoints cut off in both directions
  std::chrono::milliseconds fault_partition_after{0};  // start the partition this long after start
  std::chrono::milliseconds fault_partition_for{
      0};  // heal the partition after this long (0 = never)
  // CurveZMQ; all empty = plaintext mesh.
  std::string curve_public;  // this node's client key (Z85)
  std::string curve_secret;
  std::string curve_server_public;  // the mesh's shared server key pair (Z85)
  std::string curve_server_secret;
  std::vector<std::string> allowed_peers;  // client public keys admitted by the ZAP handler
};

// Registers every field of `config` in `keys` (the pointer must outlive `keys`).
void BindWorkerKeys(ConfigKeys& keys, WorkerConfig* config);

// Checks cross-field rules (name given, replication >= 1, curve keys complete, ...).
// InvalidArgument naming the key on failure.
// "tcp://HOST:PORT" with a port in [min_port, 65535] (with any_port_ok, also '*': any);
// InvalidArgument naming `what` (e.g. "key 'bind'") and the endpoint otherwise.
Status CheckEndpoint(const std::string& what, const std::string& endpoint, int min_port,
                     bool any_port_ok);

Status ValidateWorkerConfig(const WorkerConfig& config);

// The mesh options of the chosen profile with the config's overrides applied.
mesh::MeshOptions ToMeshOptions(const WorkerConfig& config);
// The ZeroMQ transport options (bind, advertise, curve keys).
mesh::ZmqTransportOptions ToTransportOptions(const WorkerConfig& config);

}  // namespace shardmesh::tools
