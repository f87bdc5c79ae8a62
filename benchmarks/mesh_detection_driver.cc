// End-to-end failure detection with real worker processes on 127.0.0.1 (Local profile):
//   1. `--trials` times: kill -9 a random worker, time until every live worker's status shows
//      it dead, restart it and wait for agreement again. Prints each time and the median.
//   2. `--soak-seconds S` (optional): S seconds of an idle mesh with one CPU kept busy by a
//      spinning thread; counts false deaths (a `dead` event logged by any worker about a
//      member that was never killed).
// Usage: mesh_detection_driver [--workers 8] [--trials 5] [--soak-seconds 600] [--seed 1]
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "mesh_cluster.h"
#include "shardmesh/common/random.h"

using namespace shardmesh;
using namespace shardmesh::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

bool AllSeeDead(const MeshCluster& c, int victim) {
  for (int v = 0; v < c.size(); ++v) {
    if (v == victim) continue;
    if (c.StateOf(v, c.Name(victim)) != "dead") return false;
  }
  return true;
}

std::vector<int> Everyone(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

int CountDeadEvents(const std::string& log) {
  int n = 0;
  for (std::size_t pos = 0; (pos = log.find(" dead endpoint=", pos)) != std::string::npos; ++pos) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int workers = 8, trials = 5, soak_seconds = 0;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--workers") workers = value;
    else if (flag == "--trials") trials = value;
    else if (flag == "--soak-seconds") soak_seconds = value;
    else if (flag == "--seed") seed = static_cast<std::uint64_t>(value);
    else { std::fprintf(stderr, "unknown flag %s\n", flag.c_str()); return 2; }
  }

  MeshCluster c("detect");
  c.Start(workers);
  if (!WaitFor([&] { return c.AllAgree(Everyone(workers), workers); }, seconds(60))) {
    std::fprintf(stderr, "mesh did not agree within 60 s; logs in %s\n", c.dir().c_str());
    return 1;
  }
  Rng rng(seed);
  std::vector<double> times_ms;
  for (int t = 0; t < trials; ++t) {
    const int victim = 2 + static_cast<int>(rng.Uniform(workers - 2));  // keep the seeds up
    c.worker(victim).Signal(SIGKILL);
    c.worker(victim).Wait(seconds(5));
    const auto t0 = std::chrono::steady_clock::now();
    if (!WaitFor([&] { return AllSeeDead(c, victim); }, seconds(30))) {
      std::fprintf(stderr, "trial %d: %s not seen dead by all within 30 s\n", t, c.Name(victim).c_str());
      return 1;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    times_ms.push_back(ms);
    std::printf("trial %d: killed %s, all %d live workers saw it dead after %.0f ms\n", t,
                c.Name(victim).c_str(), workers - 1, ms);
    c.Launch(victim);
    if (!WaitFor([&] { return c.AllAgree(Everyone(workers), workers); }, seconds(60))) {
      std::fprintf(stderr, "trial %d: mesh did not re-agree after restarting %s\n", t, c.Name(victim).c_str());
      return 1;
    }
  }
  std::vector<double> sorted = times_ms;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  std::printf("detection (kill -9 -> all %d live workers show dead): median %.0f ms over %d trials "
              "(min %.0f, max %.0f); status polling adds up to ~%d ms\n",
              workers - 1, median, trials, sorted.front(), sorted.back(), 50 + 10 * workers);

  if (soak_seconds > 0) {
    const int dead_before = CountDeadEvents(c.Logs());
    std::atomic<bool> stop{false};
    std::thread busy([&] {
      volatile std::uint64_t x = 0;
      while (!stop.load(std::memory_order_relaxed)) x = x + 1;
    });
    std::this_thread::sleep_for(seconds(soak_seconds));
    stop = true;
    busy.join();
    const int false_deaths = CountDeadEvents(c.Logs()) - dead_before;
    const bool agreed = c.AllAgree(Everyone(workers), workers);
    std::printf("soak: %d s with one CPU busy, %d workers: %d false dead events, mesh agreed at end: %s\n",
                soak_seconds, workers, false_deaths, agreed ? "yes" : "no");
    if (false_deaths != 0 || !agreed) return 1;
  }
  return 0;
}
