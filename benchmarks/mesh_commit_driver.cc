// Commit costs of the mesh loader (issue 5 benchmarks), two in-process mesh nodes on
// 127.0.0.1 reading a generated dataset:
//   1. throughput of the two loaders with no commits, with a commit every 256 and every 32
//      samples (one training step of a batch of 256 or 32) and after every sample, run alternately
//      `--rounds` times each; the ratio to the no-commit run of the same round is the overhead;
//   2. commit latency: what Commit() costs the caller, how long until the commit is visible in
//      the peer's table (replicated), and how long until it is persisted on local disk, for
//      commits 25 ms apart (just over the commit broadcast gap).
//
//   mesh_commit_driver [--samples N] [--rounds R] [--intervals 256,32,1] [--commit-gap-us U]
//                      [--persist-ms M] [--verbose]
// (U: the loaders' commit_broadcast_gap; 0 sends every commit at once, as before 2026-12-04)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "inprocess_mesh.h"
#include "process.h"
#include "shardmesh/loader/dataset.h"
#include "shardmesh/loader/dataset_catalog.h"
#include "shardmesh/loader/mesh_loader.h"
#include "shardmesh/loader/synthetic.h"
#include "shardmesh/mesh/mesh_node.h"

using namespace shardmesh;
using Steady = std::chrono::steady_clock;

// --commit-gap-us: the loaders' commit_broadcast_gap (default: the loader's default).
std::optional<std::chrono::microseconds> g_commit_gap;
// --persist-ms: the loaders' persist_interval; 0 turns stream checkpoints off.
std::optional<long long> g_persist_ms;
// --verbose: per epoch, the CPU of the threads beside the readers.
bool g_verbose = false;

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

using Node = testing::InProcessNode;

// CPU seconds used so far by this process's threads, summed by thread name (the library names
// its threads "sm-..."; the driver's reader threads keep the program's name).
std::map<std::string, double> ThreadCpuByName() {
  std::map<std::string, double> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::ifstream sched(task.path() / "schedstat");  // first field: nanoseconds on a CPU
    std::string name;
    double nanos = 0;
    if (!std::getline(comm, name) || !(sched >> nanos)) continue;
    out[name] += nanos / 1e9;
  }
  return out;
}

// Background CPU (every thread but the readers) per second of the run, by thread name.
std::string BackgroundCpu(const std::map<std::string, double>& before,
                          const std::map<std::string, double>& after, double secs) {
  std::string out;
  double total = 0;
  for (const auto& [name, cpu] : after) {
    if (name.rfind("mesh_commit", 0) == 0) continue;
    auto it = before.find(name);
    const double used = cpu - (it == before.end() ? 0.0 : it->second);
    total += used;
    if (used > 0) out += fmt::format(" {}={:.1f}%", name, 100 * used / secs);
  }
  return fmt::format("background CPU {:.1f}% of one core:{}", 100 * total / secs, out);
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * (v.size() - 1))];
}

// Runs one epoch on both nodes at once; returns samples/s over both. `commit_every` 0 means
// no commits but the loader's own at the end of its partitions.
struct EpochRun {
  double samples_per_second = 0;
  double cpu_ns_per_sample = 0;         // every thread of the process, readers and background
  double background_ns_per_sample = 0;  // every thread but the readers
};

double TotalCpu(const std::map<std::string, double>& by_name) {
  double sum = 0;
  for (const auto& [name, cpu] : by_name) sum += cpu;
  return sum;
}

EpochRun RunEpoch(std::vector<Node>& nodes, std::uint64_t epoch, std::uint64_t commit_every,
                  const std::string& checkpoint_root, std::vector<double>* commit_call_us) {
  std::vector<std::unique_ptr<loader::MeshLoader>> loaders;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    loader::MeshLoaderOptions lo;
    lo.partitions = 64;
    lo.min_members = static_cast<std::uint32_t>(nodes.size());
    lo.settle = std::chrono::milliseconds(200);
    lo.checkpoint_dir = checkpoint_root + "/" + nodes[i].node->name() + "-" + std::to_string(epoch);
    if (g_persist_ms) {
      if (*g_persist_ms == 0)
        lo.checkpoint_dir.clear();
      else
        lo.persist_interval = std::chrono::milliseconds(*g_persist_ms);
    }
    if (g_commit_gap) lo.commit_broadcast_gap = *g_commit_gap;
    loaders.push_back(
        Must(loader::MeshLoader::Create(lo, *nodes[i].node, *nodes[i].exchange, *nodes[i].store),
             "loader"));
  }
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> reader_cpu_ns{0};  // the reader threads' own CPU, at their end
  std::vector<std::vector<double>> calls(nodes.size());
  for (auto& l : loaders)
    if (Status s = l->StartEpoch(epoch); !s.ok()) Die("start epoch", s);
  const auto cpu0 = ThreadCpuByName();
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
          // One commit in 16 is timed: two clock reads (~24 ns each here) cost about as much as
          // the commit itself, and timing every one added ~0.7 % to the every-32 overhead.
          if ((n / commit_every) % 16 != 0) {
            loaders[i]->Commit();
            continue;
          }
          const auto c0 = Steady::now();
          loaders[i]->Commit();
          calls[i].push_back(std::chrono::duration<double, std::micro>(Steady::now() - c0).count());
        }
      }
      delivered += n > 0 ? n : 0;
      timespec cpu{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
      reader_cpu_ns += static_cast<std::uint64_t>(cpu.tv_sec) * 1000000000ull +
                       static_cast<std::uint64_t>(cpu.tv_nsec);
      if (sink < 0) std::printf("%f", sink);
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  const auto cpu1 = ThreadCpuByName();
  if (g_verbose) {
    std::printf("  epoch %llu, commit every %llu: %s\n", static_cast<unsigned long long>(epoch),
                static_cast<unsigned long long>(commit_every),
                BackgroundCpu(cpu0, cpu1, secs).c_str());
  }
  std::uint64_t total = 0;
  for (auto& l : loaders) total += l->stats().samples_delivered;
  if (commit_call_us != nullptr)
    for (auto& c : calls) commit_call_us->insert(commit_call_us->end(), c.begin(), c.end());
  const double background_ns = (TotalCpu(cpu1) - TotalCpu(cpu0)) * 1e9;
  return {static_cast<double>(total) / secs,
          (background_ns + static_cast<double>(reader_cpu_ns.load())) / static_cast<double>(total),
          background_ns / static_cast<double>(total)};
}

// Commit visibility: node 0 commits; how long until node 1's table and node 0's disk show it
// (persisted at every commit here: in use, persist_interval, 200 ms, adds up to its length).
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
    loaders.push_back(
        Must(loader::MeshLoader::Create(lo, *nodes[i].node, *nodes[i].exchange, *nodes[i].store),
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
  // Commits spaced like training steps, 5 ms more than the loader's commit_broadcast_gap (20 ms
  // by default): commits closer together than the gap coalesce and wait for it, so they would
  // show the gap instead of the mechanism.
  const auto spacing =
      loader::MeshLoaderOptions{}.commit_broadcast_gap + std::chrono::milliseconds(5);
  for (int i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(g_commit_gap ? *g_commit_gap + std::chrono::milliseconds(5)
                                             : spacing);
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
              Percentile(replicated_us, 0.5), Percentile(replicated_us, 0.99),
              replicated_us.size());
  std::printf("commit persisted locally (fsync'd):      p50 %.0f us  p99 %.0f us  (n=%zu)\n",
              Percentile(persisted_us, 0.5), Percentile(persisted_us, 0.99), persisted_us.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t samples = 200000;
  int rounds = 3;
  // Commit intervals in samples: one step of a batch of 256 and of 32, and every sample.
  std::vector<std::uint64_t> intervals{256, 32, 1};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--verbose")) g_verbose = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--samples")) samples = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--intervals")) {
      intervals.clear();
      for (const char* q = argv[i + 1]; *q != '\0';) {
        char* end = nullptr;
        intervals.push_back(std::strtoull(q, &end, 10));
        if (end == q) break;
        q = *end == ',' ? end + 1 : end;
      }
    }
    if (!std::strcmp(argv[i], "--persist-ms")) g_persist_ms = std::atoll(argv[i + 1]);
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
  for (const char* name : {"a", "b"}) {
    nodes.push_back(Must(testing::MakeInProcessNode(name, dir.path(), catalog, so.out_dir), name));
  }
  if (Status s = nodes[0].node->Start({}); !s.ok()) Die("start", s);
  if (Status s = nodes[1].node->Start({nodes[0].node->endpoint()}); !s.ok()) Die("start", s);

  std::printf("mesh loader commit overhead: 2 in-process nodes, %llu samples, 64 partitions\n",
              static_cast<unsigned long long>(samples));
  std::vector<std::vector<double>> ratio(intervals.size()), cost_us(intervals.size());
  // CPU time of the whole process per sample, no commits / with: the throughput a CPU-bound
  // job keeps, less sensitive than wall time to other tenants of the machine.
  std::vector<std::vector<double>> cpu_ratio(intervals.size());
  std::vector<std::vector<double>> calls(intervals.size());
  // The consumer time a commit adds, from the two nodes' throughputs: each node's time per
  // sample is 2 / (samples/s of both), and a commit covers commit_every samples.
  auto added_us = [](double none, double with, double commit_every) {
    return (2.0 / with - 2.0 / none) * commit_every * 1e6;
  };
  std::uint64_t epoch = 0;
  for (int r = 0; r < rounds; ++r) {
    // Each round runs the no-commit epoch and one epoch per interval, starting at a different
    // condition each round, so no condition always runs first (after the previous round's
    // heaviest epoch) or last.
    const std::size_t conditions = intervals.size() + 1;
    std::vector<EpochRun> run(conditions);
    for (std::size_t j = 0; j < conditions; ++j) {
      const std::size_t c = (j + static_cast<std::size_t>(r)) % conditions;
      run[c] = c == 0 ? RunEpoch(nodes, epoch++, 0, dir.path(), nullptr)
                      : RunEpoch(nodes, epoch++, intervals[c - 1], dir.path(), &calls[c - 1]);
    }
    const double none = run[0].samples_per_second;
    std::string line = fmt::format(
        "round {}: no commits {:.0f} samples/s, {:.0f} CPU ns/sample ({:.1f} background)", r, none,
        run[0].cpu_ns_per_sample, run[0].background_ns_per_sample);
    for (std::size_t k = 0; k < intervals.size(); ++k) {
      const double with = run[k + 1].samples_per_second;
      ratio[k].push_back(with / none);
      cpu_ratio[k].push_back(run[0].cpu_ns_per_sample / run[k + 1].cpu_ns_per_sample);
      cost_us[k].push_back(added_us(none, with, static_cast<double>(intervals[k])));
      line += fmt::format(
          " | commit every {}: {:.0f} ({:.3f}), {:.0f} CPU ns/sample ({:.1f} background; {:.3f})",
          intervals[k], with, with / none, run[k + 1].cpu_ns_per_sample,
          run[k + 1].background_ns_per_sample, cpu_ratio[k].back());
    }
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
  for (std::size_t k = 0; k < intervals.size(); ++k) {
    const double median = Percentile(ratio[k], 0.5);
    const double cpu_median = Percentile(cpu_ratio[k], 0.5);
    // The quartiles of the per-round ratios show how far the machine's noise spreads them.
    std::printf(
        "commit every %llu samples: median ratio to no commits %.3f (overhead %.1f%%; rounds' "
        "quartiles %.3f-%.3f), consumer time added per commit %.2f us; CPU per sample: median "
        "ratio %.3f (overhead %.1f%%; quartiles %.3f-%.3f)\n",
        static_cast<unsigned long long>(intervals[k]), median, 100 * (1 - median),
        Percentile(ratio[k], 0.25), Percentile(ratio[k], 0.75), Percentile(cost_us[k], 0.5),
        cpu_median, 100 * (1 - cpu_median), Percentile(cpu_ratio[k], 0.25),
        Percentile(cpu_ratio[k], 0.75));
  }
  for (std::size_t k = 0; k < intervals.size(); ++k) {
    double total_us = 0;
    for (double us : calls[k]) total_us += us;
    std::printf(
        "Commit() call every %llu samples (caller's cost): p50 %.2f us  p99 %.2f us  p99.9 %.2f us "
        " max %.0f us  total ~%.1f ms over %d epochs (n=%zu timed, one commit in 16; the total "
        "is 16 times theirs)\n",
        static_cast<unsigned long long>(intervals[k]), Percentile(calls[k], 0.5),
        Percentile(calls[k], 0.99), Percentile(calls[k], 0.999), Percentile(calls[k], 1.0),
        16 * total_us / 1000, rounds, calls[k].size());
  }
  CommitLatency(nodes, dir.path());
  for (auto& n : nodes) n.node->Stop();
  return 0;
}
