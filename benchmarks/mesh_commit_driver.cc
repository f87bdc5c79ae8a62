// Commit costs of the mesh loader (issue 5 benchmarks), two in-process mesh nodes on
// 127.0.0.1 reading a generated dataset:
//   1. throughput of the two loaders with no commits, with a commit every 256 and every 32
//      samples (one training step of a batch of 256 or 32) and after every sample, run alternately
//      `--rounds` times each; the ratio to the no-commit run of the same round is the overhead;
//   2. commit latency: what Commit() costs the caller, how long until the commit is visible in
//      the peer's table (replicated), and how long until it is persisted on local disk, for
//      commits 10 ms apart.
//
//   mesh_commit_driver [--samples N] [--rounds R] [--commit-gap-us U]
// (U: the loaders' commit_broadcast_gap; 0 sends every commit at once, as before 2026-12-04)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "process.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/shard_store.h"
#include "shardmesh/loader/synthetic.h"
#include "shardmesh/mesh/block_exchange.h"
#include "shardmesh/mesh/mesh_node.h"
#include "shardmesh/mesh/zmq_transport.h"

using namespace shardmesh;
using Steady = std::chrono::steady_clock;

// --commit-gap-us: the loaders' commit_broadcast_gap (default: the loader's default).
std::optional<std::chrono::microseconds> g_commit_gap;

namespace {

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "mesh_commit_driver: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what, r.status());
  return std::move(r).value();
}

struct Node {
  std::unique_ptr<mesh::MeshNode> node;
  std::unique_ptr<mesh::BlockExchange> exchange;
  std::unique_ptr<loader::ShardStore> store;
};

Node MakeNode(const std::string& name, const std::string& dir,
              std::shared_ptr<const loader::DatasetCatalog> catalog, const std::string& source) {
  Node n;
  loader::ShardStoreOptions so;
  so.data_dir = dir + "/" + name;
  so.source_dir = source;
  n.store = Must(loader::ShardStore::Open(so, catalog), "store");
  auto transport = Must(mesh::ZmqTransport::Create({}), "transport");
  mesh::MeshOptions mo = mesh::MeshOptions::Local();
  mo.name = name;
  n.node = Must(mesh::MeshNode::Create(mo, std::move(transport)), "node");
  n.exchange = Must(mesh::BlockExchange::Create({}, n.store.get()), "exchange");
  if (Status s = n.exchange->Attach(*n.node); !s.ok()) Die("attach", s);
  return n;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * (v.size() - 1))];
}

// Runs one epoch on both nodes at once; returns samples/s over both. `commit_every` 0 means
// no commits but the loader's own at the end of its partitions.
double RunEpoch(std::vector<Node>& nodes, std::uint64_t epoch, std::uint64_t commit_every,
                const std::string& checkpoint_root, std::vector<double>* commit_call_us) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    loader::MeshLoaderOptions lo;
    lo.partitions = 64;
    lo.min_members = static_cast<std::uint32_t>(nodes.size());
    lo.settle = std::chrono::milliseconds(200);
    lo.checkpoint_dir = checkpoint_root + "/" + nodes[i].node->name() + "-" + std::to_string(epoch);
    if (g_commit_gap) lo.commit_broadcast_gap = *g_commit_gap;
    loaders.push_back(Must(loader::MeshLoader::Create(lo, *nodes[i].node, *nodes[i].exchange,
                                                      *nodes[i].store),
                           "loader"));
  }
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> delivered{0};
  std::vector<std::vector<double>> calls(nodes.size());
  for (auto& l : loaders)
    if (Status s = l->StartEpoch(epoch); !s.ok()) Die("start epoch", s);
  const auto t0 = Steady::now();
  for (std::size_t i = 0; i < loaders.size(); ++i) {
    threads.emplace_back([&, i] {
      std::uint64_t n = 0;
      double sink = 0;
      for (;;) {
        auto next = loaders[i]->Next();
        if (!next.ok()) Die("next", next.status());
        if (!next->has_value()) break;
        sink += static_cast<double>((*next)->global_index());
        if (commit_every > 0 && ++n % commit_every == 0) {
          const auto c0 = Steady::now();
          loaders[i]->Commit();
          calls[i].push_back(std::chrono::duration<double, std::micro>(Steady::now() - c0).count());
        }
      }
      delivered += n > 0 ? n : 0;
      if (sink < 0) std::printf("%f", sink);
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  std::uint64_t total = 0;
  for (auto& l : loaders) total += l->stats().samples_delivered;
  if (commit_call_us != nullptr)
    for (auto& c : calls) commit_call_us->insert(commit_call_us->end(), c.begin(), c.end());
  return static_cast<double>(total) / secs;
}

// Commit visibility: node 0 commits; how long until node 1's table and node 0's disk show it.
void CommitLatency(std::vector<Node>& nodes, const std::string& root) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    loader::MeshLoaderOptions lo;
    lo.partitions = 64;
    lo.min_members = 2;
    lo.settle = std::chrono::milliseconds(200);
    lo.checkpoint_dir = root + "/latency-" + nodes[i].node->name();
    lo.persist_interval = std::chrono::milliseconds(0);
    if (g_commit_gap) lo.commit_broadcast_gap = *g_commit_gap;
    loaders.push_back(Must(loader::MeshLoader::Create(lo, *nodes[i].node, *nodes[i].exchange,
                                                      *nodes[i].store),
                           "loader"));
  }
  std::thread other([&] { (void)loaders[1]->StartEpoch(1000); });
  if (Status s = loaders[0]->StartEpoch(1000); !s.ok()) Die("start", s);
  other.join();
  std::vector<double> replicated_us, persisted_us;
  auto cursor_sum = [](const checkpoint::StreamState& s) {
    std::uint64_t sum = 0;
    for (const auto& c : s.cursors) sum += c.consumed;
    return sum;
  };
  for (int i = 0; i < 300; ++i) {
    // Commits spaced like training steps (10 ms): commits closer together than the loader's
    // commit_broadcast_gap (5 ms) coalesce and wait for the gap, so they show that instead.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (int k = 0; k < 8; ++k) {
      auto next = loaders[0]->Next();
      if (!next.ok() || !next->has_value()) break;
    }
    const std::uint64_t persisted_before = loaders[0]->stats().checkpoints_persisted;
    const auto c0 = Steady::now();
    loaders[0]->Commit();
    const std::uint64_t want = cursor_sum(loaders[0]->GetCheckpoint());
    bool replicated = false, persisted = false;
    while (!(replicated && persisted) && Steady::now() - c0 < std::chrono::seconds(2)) {
      const double us = std::chrono::duration<double, std::micro>(Steady::now() - c0).count();
      if (!replicated && cursor_sum(loaders[1]->GetCheckpoint()) >= want) {
        replicated = true;
        replicated_us.push_back(us);
      }
      if (!persisted && loaders[0]->stats().checkpoints_persisted > persisted_before) {
        persisted = true;
        persisted_us.push_back(us);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  std::printf("commit visible at the peer (replicated): p50 %.0f us  p99 %.0f us  (n=%zu)\n",
              Percentile(replicated_us, 0.5), Percentile(replicated_us, 0.99), replicated_us.size());
  std::printf("commit persisted locally (fsync'd):      p50 %.0f us  p99 %.0f us  (n=%zu)\n",
              Percentile(persisted_us, 0.5), Percentile(persisted_us, 0.99), persisted_us.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t samples = 200000;
  int rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--samples")) samples = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--commit-gap-us"))
      g_commit_gap = std::chrono::microseconds(std::atoll(argv[i + 1]));
  }
  testing::TempDir dir("mesh_commit_");
  loader::SyntheticOptions so;
  so.out_dir = dir.path() + "/source";
  so.samples = samples;
  so.shards = 16;
  so.feature_dim = 64;
  so.seq_len = 32;
  so.block_bytes = 256 * 1024;
  if (Status s = loader::GenerateSyntheticDataset(so); !s.ok()) Die("gen", s);
  auto dataset = Must(loader::Dataset::Open(so.out_dir), "open");
  auto catalog = Must(loader::DatasetCatalog::FromDataset(*dataset), "catalog");
  std::vector<Node> nodes;
  nodes.push_back(MakeNode("a", dir.path(), catalog, so.out_dir));
  nodes.push_back(MakeNode("b", dir.path(), catalog, so.out_dir));
  if (Status s = nodes[0].node->Start({}); !s.ok()) Die("start", s);
  if (Status s = nodes[1].node->Start({nodes[0].node->endpoint()}); !s.ok()) Die("start", s);

  std::printf("mesh loader commit overhead: 2 in-process nodes, %llu samples, 64 partitions\n",
              static_cast<unsigned long long>(samples));
  // Commit intervals in samples: one step of a batch of 256 and of 32, and every sample.
  const std::vector<std::uint64_t> intervals{256, 32, 1};
  std::vector<std::vector<double>> ratio(intervals.size()), cost_us(intervals.size());
  std::vector<std::vector<double>> calls(intervals.size());
  // The consumer time a commit adds, from the two nodes' throughputs: each node's time per
  // sample is 2 / (samples/s of both), and a commit covers commit_every samples.
  auto added_us = [](double none, double with, double commit_every) {
    return (2.0 / with - 2.0 / none) * commit_every * 1e6;
  };
  std::uint64_t epoch = 0;
  for (int r = 0; r < rounds; ++r) {
    const double none = RunEpoch(nodes, epoch++, 0, dir.path(), nullptr);
    std::string line = fmt::format("round {}: no commits {:.0f} samples/s", r, none);
    for (std::size_t k = 0; k < intervals.size(); ++k) {
      const double with = RunEpoch(nodes, epoch++, intervals[k], dir.path(),
                                   &calls[k]);
      ratio[k].push_back(with / none);
      cost_us[k].push_back(added_us(none, with, static_cast<double>(intervals[k])));
      line += fmt::format(" | commit every {}: {:.0f} ({:.3f})", intervals[k], with, with / none);
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  for (std::size_t k = 0; k < intervals.size(); ++k) {
    const double median = Percentile(ratio[k], 0.5);
    std::printf("commit every %llu samples: median ratio to no commits %.3f (overhead %.1f%%), "
                "consumer time added per commit %.2f us\n",
                static_cast<unsigned long long>(intervals[k]), median, 100 * (1 - median),
                Percentile(cost_us[k], 0.5));
  }
  for (std::size_t k = 0; k < intervals.size(); ++k) {
    std::printf("Commit() call every %llu samples (caller's cost): p50 %.2f us  p99 %.2f us  (n=%zu)\n",
                static_cast<unsigned long long>(intervals[k]), Percentile(calls[k], 0.5),
                Percentile(calls[k], 0.99), calls[k].size());
  }
  CommitLatency(nodes, dir.path());
  for (auto& n : nodes) n.node->Stop();
  return 0;
}
