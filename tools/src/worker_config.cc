#include "worker_config.h"

#include <spdlog/common.h>

#include "shardmesh/common/utf8.h"

namespace shardmesh::tools {

void BindWorkerKeys(ConfigKeys& keys, WorkerConfig* c) {
  keys.AddString("name", &c->name, "unique node name in the mesh (required)");
  keys.AddString("bind", &c->bind,
                 "endpoint of this node's inbox (tcp://127.0.0.1:PORT; port 0 = any free port)");
  keys.AddString("advertise", &c->advertise,
                 "endpoint peers use to reach this node (default: the bound endpoint)");
  keys.AddList("seeds", &c->seeds,
               "endpoints of nodes to join through; retried for ever so partitions heal");
  keys.AddString("profile", &c->profile,
                 "mesh timing profile: local (loopback, fast detection) or lan");
  keys.AddInt("vnodes", &c->vnodes, "virtual nodes per member on the consistent-hash ring");
  keys.AddInt("replication", &c->replication, "copies of each shard kept on distinct members");
  keys.AddInt("partitions", &c->partitions,
              "canonical partitions of an epoch (min(this, blocks) are used); fixed for a job");
  keys.AddString(
      "dataset", &c->dataset,
      "source dataset directory this worker can read (one worker, or a path shared by all)");
  keys.AddString("data_dir", &c->data_dir,
                 "this worker's local shard store; enables placement, serving and loading");
  keys.AddInt("epochs", &c->epochs,
              "epochs to consume before exiting (0: only store and serve shards)");
  keys.AddString("strategy", &c->strategy,
                 "partition strategy: consistent-hash (locality first) or global-shuffle");
  keys.AddInt("seed", &c->seed, "seed of the epoch order; the same on every worker");
  keys.AddInt("shuffle_window_blocks", &c->shuffle_window_blocks,
              "blocks per shuffle window inside a partition");
  keys.AddString("ids_out", &c->ids_out,
                 "file to append the global index of every delivered sample to, one per line");
  keys.AddBool("serve_after", &c->serve_after,
               "keep serving shards after the last epoch, until SIGTERM");
  keys.AddBool("drop_unowned", &c->drop_unowned,
               "delete local copies of shards this worker no longer owns (kept by default: they "
               "still serve reads)");
  keys.AddBool("verify_store_at_start", &c->verify_store_at_start,
               "re-read every copy in data_dir at start and drop damaged ones (false: start at "
               "once; a damaged block is still caught when read and healed from another copy)");
  keys.AddInt("commit_every", &c->commit_every,
              "commit the stream position every N delivered samples");
  keys.AddInt("min_members", &c->min_members,
              "an epoch starts once this many members are live and agree");
  keys.AddDuration("settle", &c->settle,
                   "membership must be unchanged this long before an epoch starts, and before "
                   "placement copies or drops shards");
  keys.AddDuration("start_timeout", &c->start_timeout,
                   "an epoch that cannot start within this (too few members, views disagree) fails "
                   "the worker (0: wait for ever)");
  keys.AddDuration("placement_timeout", &c->placement_timeout,
                   "before the first epoch, wait this long for the shards this worker owns, then "
                   "read the missing ones from peers");
  keys.AddDuration("read_deadline", &c->read_deadline,
                   "a block no live holder serves within this fails the read");
  keys.AddDuration("epoch_end_timeout", &c->epoch_end_timeout,
                   "longest wait for other workers to finish an epoch");
  keys.AddString("checkpoint_dir", &c->checkpoint_dir,
                 "stream checkpoints of this worker (default <data_dir>/checkpoints); a restart "
                 "resumes from the newest valid one");
  keys.AddDuration("persist_interval", &c->persist_interval,
                   "save the stream checkpoint at most this often after commits; a whole-job "
                   "restart repeats at most this much");
  keys.AddDuration("commit_broadcast_gap", &c->commit_broadcast_gap,
                   "send commits to the peers at most this often (coalesced; a commit after a "
                   "quiet spell goes at once)");
  keys.AddInt("consume_rate", &c->consume_rate,
              "pace the consumer at N samples/s, like a training step would (0: unpaced)");
  keys.AddInt("metrics_port", &c->metrics_port,
              "serve Prometheus metrics on 127.0.0.1:PORT/metrics (-1 off, 0 any free port)");
  keys.AddDuration("probe_interval", &c->probe_interval,
                   "SWIM protocol period (0 = profile default)");
  keys.AddDuration("probe_timeout", &c->probe_timeout,
                   "wait for a direct ack before indirect probes (0 = profile default)");
  keys.AddInt("suspicion_mult", &c->suspicion_mult,
              "suspicion timeout = mult x max(1, log10 N) x probe_interval (0 = profile default)");
  keys.AddInt("indirect_checks", &c->indirect_checks,
              "members asked to probe on a missed ack (0 = profile default)");
  keys.AddDuration("push_pull_interval", &c->push_pull_interval,
                   "full state sync period (0 = profile default)");
  keys.AddString("log_level", &c->log_level, "trace, debug, info, warn, error or off");
  keys.AddDouble("fault_drop_rate", &c->fault_drop_rate,
                 "test only: drop this fraction of messages in and out");
  keys.AddDuration("fault_delay", &c->fault_delay, "test only: delay every outgoing message");
  keys.AddList("fault_partition_from", &c->fault_partition_from,
               "test only: names or endpoints cut off both ways");
  keys.AddDuration("fault_partition_after", &c->fault_partition_after,
                   "test only: the partition starts this long after start (0: at once)");
  keys.AddDuration("fault_partition_for", &c->fault_partition_for,
                   "test only: heal that partition after this long (0: never)");
  keys.AddString("curve_public", &c->curve_public,
                 "CurveZMQ: this node's public key (Z85, from `shardmesh keygen`)");
  keys.AddString("curve_secret", &c->curve_secret, "CurveZMQ: this node's secret key (Z85)");
  keys.AddString("curve_server_public", &c->curve_server_public,
                 "CurveZMQ: the mesh server public key shared by members");
  keys.AddString("curve_server_secret", &c->curve_server_secret,
                 "CurveZMQ: the mesh server secret key shared by members");
  keys.AddList("allowed_peers", &c->allowed_peers,
               "CurveZMQ: public keys of the members admitted to the mesh");
}

Status CheckEndpoint(const std::string& what, const std::string& endpoint, int min_port,
                     bool any_port_ok) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(what + ": '" + endpoint + "' " + why +
                                   " (expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:7101)");
  };
  if (endpoint.rfind("tcp://", 0) != 0) return bad("is not a tcp:// endpoint");
  const std::size_t colon = endpoint.rfind(':');
  if (colon <= 5 || colon + 1 >= endpoint.size()) return bad("has no port");
  const std::string host = endpoint.substr(6, colon - 6);
  const std::string port = endpoint.substr(colon + 1);
  if (host.empty()) return bad("has no host");
  if (any_port_ok && port == "*") return Status::OK();
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < min_port || std::stoi(port) > 65535) {
    return bad("has no valid port (" + std::to_string(min_port) + "..65535)");
  }
  return Status::OK();
}

Status ValidateWorkerConfig(const WorkerConfig& c) {
  if (c.name.empty()) return Status::InvalidArgument("key 'name': a worker needs a unique name");
  if (!IsValidUtf8(c.name)) {
    return Status::InvalidArgument("key 'name': '" + EscapeInvalidUtf8(c.name) +
                                   "' is not valid UTF-8");
  }
  SHARDMESH_RETURN_IF_ERROR(CheckEndpoint("key 'bind'", c.bind, 0, true));
  if (!c.advertise.empty())
    SHARDMESH_RETURN_IF_ERROR(CheckEndpoint("key 'advertise'", c.advertise, 1, false));
  for (const std::string& seed : c.seeds)
    SHARDMESH_RETURN_IF_ERROR(CheckEndpoint("key 'seeds'", seed, 1, false));
  // spdlog's own parser (it also takes "warning" and "err") reads any unknown name as off.
  if (spdlog::level::from_str(c.log_level) == spdlog::level::off && c.log_level != "off") {
    return Status::InvalidArgument("key 'log_level': '" + c.log_level +
                                   "' is not trace, debug, info, warn, error, critical or off");
  }
  if (c.profile != "local" && c.profile != "lan")
    return Status::InvalidArgument("key 'profile': '" + c.profile + "' is not local or lan");
  // Upper bounds keep a typo from asking for gigabytes of ring (vnodes x members points) or
  // plan, and every value inside 32 bits, where the mesh keeps it.
  struct Range {
    const char* key;
    std::int64_t value, min, max;
  };
  for (const Range& r : {Range{"vnodes", c.vnodes, 1, 4096},
                         Range{"replication", c.replication, 1, 64},
                         Range{"partitions", c.partitions, 1, 65536},
                         Range{"shuffle_window_blocks", c.shuffle_window_blocks, 1, 65536},
                         Range{"min_members", c.min_members, 1, 100000},
                         Range{"suspicion_mult", c.suspicion_mult, 0, 100},
                         Range{"indirect_checks", c.indirect_checks, 0, 64}}) {
    if (r.value < r.min || r.value > r.max) {
      return Status::InvalidArgument("key '" + std::string(r.key) + "': " +
                                     std::to_string(r.value) + " is outside " +
                                     std::to_string(r.min) + ".." + std::to_string(r.max) +
                                     (r.min == 0 ? " (0 = profile default)" : ""));
    }
  }
  if (c.epochs < 0) return Status::InvalidArgument("key 'epochs': must be >= 0");
  if (c.epochs > 0 && c.data_dir.empty())
    return Status::InvalidArgument("key 'epochs': needs 'data_dir' (the worker's shard store)");
  if (!c.dataset.empty() && c.data_dir.empty())
    return Status::InvalidArgument("key 'dataset': needs 'data_dir' (the worker's shard store)");
  if (c.strategy != "consistent-hash" && c.strategy != "global-shuffle")
    return Status::InvalidArgument("key 'strategy': '" + c.strategy +
                                   "' is not consistent-hash or global-shuffle");
  if (c.seed < 0) return Status::InvalidArgument("key 'seed': must be >= 0");
  if (c.commit_every < 1) return Status::InvalidArgument("key 'commit_every': must be at least 1");
  if (c.consume_rate < 0) return Status::InvalidArgument("key 'consume_rate': must be >= 0");
  if (c.metrics_port < -1 || c.metrics_port > 65535)
    return Status::InvalidArgument("key 'metrics_port': must be -1 (off) or a port 0..65535");
  if (c.fault_drop_rate < 0 || c.fault_drop_rate > 1)
    return Status::InvalidArgument("key 'fault_drop_rate': must be within [0, 1]");
  if (c.fault_partition_from.empty() &&
      (c.fault_partition_after.count() > 0 || c.fault_partition_for.count() > 0)) {
    return Status::InvalidArgument(
        std::string("key '") +
        (c.fault_partition_after.count() > 0 ? "fault_partition_after" : "fault_partition_for") +
        "': times a partition, but 'fault_partition_from' names no peers to cut off");
  }
  const bool any_curve = !c.curve_public.empty() || !c.curve_secret.empty() ||
                         !c.curve_server_public.empty() || !c.curve_server_secret.empty();
  const bool all_curve = !c.curve_public.empty() && !c.curve_secret.empty() &&
                         !c.curve_server_public.empty() && !c.curve_server_secret.empty();
  if (any_curve && !all_curve)
    return Status::InvalidArgument(
        "keys 'curve_*': give all of curve_public, curve_secret, curve_server_public and "
        "curve_server_secret, or none");
  if (all_curve && c.allowed_peers.empty())
    return Status::InvalidArgument("key 'allowed_peers': required when curve keys are set");
  return Status::OK();
}

mesh::MeshOptions ToMeshOptions(const WorkerConfig& c) {
  mesh::MeshOptions o = c.profile == "lan" ? mesh::MeshOptions::Lan() : mesh::MeshOptions::Local();
  o.name = c.name;
  o.bind = c.bind;
  o.advertise = c.advertise;
  o.vnodes = static_cast<std::uint32_t>(c.vnodes);
  o.partitions = static_cast<std::uint32_t>(c.partitions);
  o.replication = static_cast<std::uint32_t>(c.replication);
  if (c.probe_interval.count() > 0) o.probe_interval = c.probe_interval;
  if (c.probe_timeout.count() > 0) o.probe_timeout = c.probe_timeout;
  if (c.suspicion_mult > 0) o.suspicion_mult = static_cast<std::uint32_t>(c.suspicion_mult);
  if (c.indirect_checks > 0) o.indirect_checks = static_cast<std::uint32_t>(c.indirect_checks);
  if (c.push_pull_interval.count() > 0) o.push_pull_interval = c.push_pull_interval;
  return o;
}

mesh::ZmqTransportOptions ToTransportOptions(const WorkerConfig& c) {
  mesh::ZmqTransportOptions t;
  t.bind = c.bind;
  t.advertise = c.advertise;
  t.curve_public = c.curve_public;
  t.curve_secret = c.curve_secret;
  t.curve_server_public = c.curve_server_public;
  t.curve_server_secret = c.curve_server_secret;
  t.allowed_peers = c.allowed_peers;
  return t;
}

}  // namespace shardmesh::tools
