// Partitions moved by one join or one leave under the bounded-load assignment
// (mesh::AssignPartitions, eps 0.1), as a multiple of the ideal P/N, for every member count in a
// range. ring_test checks a few fixed points; this scan shows the whole curve, including the
// member counts where the load cap itself steps down (floor((1+eps) P/N) changes) and every
// member at the old cap must give a partition up.
//   For each N and each seed s: the ring of members node-0..node-(N-1) (128 vnodes, seed s);
//   join = the members plus "newcomer"; leave = the members without node-(s mod N).
// Prints one line per N (with --verbose) and a summary: mean over N, the worst N.
// Usage: ring_movement_driver [--partitions 1024] [--from 2] [--to 128] [--seeds 8] [--verbose]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shardmesh/mesh/ring.h"

using shardmesh::mesh::AssignPartitions;
using shardmesh::mesh::HashRing;
using shardmesh::mesh::PartitionAssignment;
using shardmesh::mesh::RingOptions;

namespace {

std::uint32_t Moved(const PartitionAssignment& a, const PartitionAssignment& b) {
  std::uint32_t moved = 0;
  for (std::uint32_t p = 0; p < a.partitions(); ++p) moved += a.OwnerOf(p) != b.OwnerOf(p);
  return moved;
}

struct Row {
  std::size_t members = 0;
  std::uint32_t cap_before = 0;
  std::uint32_t cap_joined = 0;
  double join = 0;   // moved by the join / (P / N), mean over seeds
  double leave = 0;  // moved by the leave / (P / N), mean over seeds
};

Row Measure(std::size_t n, std::uint32_t partitions, int seeds) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < n; ++i) names.push_back("node-" + std::to_string(i));
  Row row{.members = n};
  double join = 0, leave = 0;
  for (int s = 0; s < seeds; ++s) {
    const RingOptions options{.vnodes = 128, .seed = static_cast<std::uint64_t>(s)};
    const auto before = AssignPartitions(HashRing::Build(names, options), partitions);
    std::vector<std::string> joined = names;
    joined.push_back("newcomer");
    const auto after_join = AssignPartitions(HashRing::Build(joined, options), partitions);
    std::vector<std::string> left = names;
    left.erase(left.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(s) % n));
    const auto after_leave = AssignPartitions(HashRing::Build(left, options), partitions);
    join += Moved(before, after_join);
    leave += Moved(before, after_leave);
    row.cap_before = before.cap();
    row.cap_joined = after_join.cap();
  }
  const double ideal = seeds * static_cast<double>(partitions) / static_cast<double>(n);
  row.join = join / ideal;
  row.leave = leave / ideal;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t partitions = 1024;
  std::size_t from = 2, to = 128;
  int seeds = 8;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--verbose") {
      verbose = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "ring_movement_driver: %s needs a value\n", flag.c_str());
      return 2;
    }
    const unsigned long value = std::strtoul(argv[++i], nullptr, 10);
    if (flag == "--partitions")
      partitions = static_cast<std::uint32_t>(value);
    else if (flag == "--from")
      from = value;
    else if (flag == "--to")
      to = value;
    else if (flag == "--seeds")
      seeds = static_cast<int>(value);
    else {
      std::fprintf(stderr, "ring_movement_driver: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (from < 2 || to < from || seeds < 1 || partitions == 0) {
    std::fprintf(
        stderr,
        "ring_movement_driver: need 2 <= --from <= --to, --seeds >= 1, --partitions >= 1\n");
    return 2;
  }
  double join_sum = 0, leave_sum = 0;
  Row worst_join, worst_leave;
  std::size_t join_over = 0, leave_over = 0;  // member counts above the 1.25
  for (std::size_t n = from; n <= to; ++n) {
    const Row r = Measure(n, partitions, seeds);
    if (verbose) {
      std::printf("N=%zu P=%u cap %u -> %u on a join: join %.2f leave %.2f\n", n, partitions,
                  r.cap_before, r.cap_joined, r.join, r.leave);
    }
    join_sum += r.join;
    leave_sum += r.leave;
    if (r.join > worst_join.join) worst_join = r;
    if (r.leave > worst_leave.leave) worst_leave = r;
    join_over += r.join > 1.25 ? 1 : 0;
    leave_over += r.leave > 1.25 ? 1 : 0;
  }
  const double count = static_cast<double>(to - from + 1);
  std::printf(
      "P=%u, N=%zu..%zu, %d seeds: moved/ideal mean join %.2f leave %.2f; worst join %.2f at "
      "N=%zu (cap %u -> %u), worst leave %.2f at N=%zu; above 1.25: %zu joins and "
      "%zu leaves of %zu member counts\n",
      partitions, from, to, seeds, join_sum / count, leave_sum / count, worst_join.join,
      worst_join.members, worst_join.cap_before, worst_join.cap_joined, worst_leave.leave,
      worst_leave.members, join_over, leave_over, to - from + 1);
  return 0;
}
