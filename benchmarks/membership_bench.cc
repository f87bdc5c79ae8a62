// Membership on the simulated network with the Lan profile, N = 16, 128, 1000 (override with
// arguments: membership_bench 16 128). For each N: join, measure steady-state traffic, then
// kill one member and measure, in protocol periods, when the first node suspects it, when the
// first node declares it dead, and when every live node knows. Printed beside memberlist's
// formulas for the same parameters. A driver with its own main(), not Google Benchmark: the
// quantities are simulated times, not CPU times.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../tests/unit/mesh/sim_cluster.h"
#include "shardmesh/mesh/mesh_options.h"

namespace {

using namespace shardmesh;
using namespace shardmesh::mesh;
using std::chrono::milliseconds;
using std::chrono::seconds;

double Periods(Duration d, const MeshOptions& o) {
  return std::chrono::duration<double>(d).count() /
         std::chrono::duration<double>(o.probe_interval).count();
}

struct Row {
  std::size_t n = 0;
  double join_s = 0;
  double suspect_p = 0;
  double first_dead_p = 0;
  double all_dead_p = 0;
  double bytes_per_member_s = 0;
  double msgs_per_member_s = 0;
  double wall_s = 0;
};

Row Measure(std::size_t n, int kills, std::uint64_t seed) {
  const auto wall_start = std::chrono::steady_clock::now();
  const MeshOptions o = MeshOptions::Lan();
  testing::SimCluster c(seed, o, milliseconds(10));
  c.set_record_events(false);
  c.CreateAndJoin(n);
  Row row;
  row.n = n;
  auto joined =
      c.RunUntil([&] { return c.AllRunningSeeEachOtherAlive(); }, seconds(600), seconds(1));
  if (!joined) {
    std::fprintf(stderr, "N=%zu did not converge\n", n);
    std::exit(1);
  }
  row.join_s = std::chrono::duration<double>(*joined).count();
  // Let join gossip drain, then measure steady-state traffic over 30 s.
  c.Run(seconds(30));
  c.net().ResetStats();
  const Duration window = seconds(30);
  c.Run(window);
  const SimStats st = c.net().TotalStats();
  const double secs = std::chrono::duration<double>(window).count();
  row.bytes_per_member_s = static_cast<double>(st.bytes_sent) / static_cast<double>(n) / secs;
  row.msgs_per_member_s = static_cast<double>(st.messages_sent) / static_cast<double>(n) / secs;

  c.set_record_events(true);
  for (int k = 0; k < kills; ++k) {
    c.ClearEvents();
    const std::size_t victim = 1 + (seed * 7919 + static_cast<std::uint64_t>(k) * 104729) % (n - 1);
    if (!c.node(victim).running) continue;
    const std::string name = c.node(victim).name;
    c.Kill(victim);
    const TimePoint killed = c.now();
    auto all = c.RunUntil([&] { return c.AllRunningSee(name, MemberState::kDead); }, seconds(600),
                          milliseconds(100));
    if (!all) {
      std::fprintf(stderr, "N=%zu: %s never dead at all\n", n, name.c_str());
      std::exit(1);
    }
    row.all_dead_p += Periods(*all, o) / kills;
    row.suspect_p +=
        Periods(*c.FirstEvent(MembershipEventKind::kSuspect, name) - killed, o) / kills;
    row.first_dead_p +=
        Periods(*c.FirstEvent(MembershipEventKind::kDead, name) - killed, o) / kills;
    c.Run(seconds(5));
  }
  row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes{16, 128, 1000};
  if (argc > 1) {
    sizes.clear();
    for (int i = 1; i < argc; ++i) sizes.push_back(std::strtoull(argv[i], nullptr, 10));
  }
  const MeshOptions o = MeshOptions::Lan();
  std::printf(
      "Lan profile: probe %lld ms, timeout %lld ms, suspicion mult %u (max x%u), "
      "retransmit %u, gossip %lld ms x %u, 10 ms simulation steps, 0.5-2.5 ms delay\n",
      static_cast<long long>(o.probe_interval.count()),
      static_cast<long long>(o.probe_timeout.count()), o.suspicion_mult,
      o.suspicion_max_timeout_mult, o.retransmit_mult,
      static_cast<long long>(o.gossip_interval.count()), o.gossip_nodes);
  std::printf("%6s %8s | %9s %10s %9s | %12s %12s %10s | %11s %9s | %7s\n", "N", "join s",
              "suspect", "first dead", "all dead", "susp min", "susp max", "log2(N)", "bytes/mem/s",
              "msg/mem/s", "wall s");
  std::printf("%6s %8s | %9s %10s %9s | %12s %12s %10s | %11s %9s | %7s\n", "", "", "periods",
              "periods", "periods", "periods", "periods", "periods", "", "", "");
  for (std::size_t n : sizes) {
    const int kills = n >= 1000 ? 1 : 3;
    const Row r = Measure(n, kills, 17);
    // memberlist: suspicionTimeout = mult * max(1, log10(n)) * interval (min), x max mult (max);
    // gossip reaches everyone in ~log(N) rounds.
    const double min_p = Periods(SuspicionMinTimeout(o.suspicion_mult, n, o.probe_interval), o);
    std::printf("%6zu %8.1f | %9.2f %10.2f %9.2f | %12.2f %12.2f %10.2f | %11.0f %9.1f | %7.1f\n",
                r.n, r.join_s, r.suspect_p, r.first_dead_p, r.all_dead_p, min_p,
                min_p * o.suspicion_max_timeout_mult, std::log2(static_cast<double>(n)),
                r.bytes_per_member_s, r.msgs_per_member_s, r.wall_s);
    std::fflush(stdout);
  }
  return 0;
}
