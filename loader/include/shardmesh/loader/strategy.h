// How the epoch order is split among the ranks of a static job (world_size, rank as torchrun
// or SLURM give them). Every strategy is disjoint and complete over the epoch; all but
// kAdaptive then equalise the per-rank counts with a DropPolicy (see partition_plan.h).
//
// Thread-safety: plain enums and pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "shardmesh/common/status.h"

namespace shardmesh::loader {

enum class Strategy {
  // Partitions p with p % W == r. The default: spreads partitions evenly and, when W divides
  // P, the ranks' streams interleave back into the global order.
  kRoundRobin,
  // Partitions [floor(r*P/W), floor((r+1)*P/W)): each rank reads a contiguous stretch of the
  // block list (good locality when shards are pinned to hosts).
  kContiguous,
  // Partitions ordered by HashU64(p, seed) and dealt round-robin: a seed-dependent spread.
  kHash,
  // Explicit [begin, end) ranges of global sample indices per rank; the rank's stream is the
  // global order filtered to its range. Ranges must tile [0, N).
  kRange,
  // Each class's samples, in global order, dealt round-robin to ranks with a rotating start:
  // every rank's count of every class is within 1 of ideal. Needs a label field. Costs decode
  // amplification (a rank touches most blocks); reported in the plan and in LoaderStats.
  kStratified,
  // Partitions split in proportion to per-rank throughputs (whole partitions, contiguous in
  // partition order), so ranks of unequal speed finish together. Counts are NOT equalised:
  // padding a slow rank up to a fast rank's count would make it the straggler again, which is
  // what the strategy exists to avoid. The trainer must accept uneven per-rank batches (e.g.
  // torch DDP's Join context); recomputed at every epoch from the configured throughputs.
  kAdaptive,
};

// What to do when N is not a multiple of W.
enum class DropPolicy {
  // Every rank delivers ceil(N/W); the shortfall is filled with samples from the start of the
  // epoch order (wrapping), like torch's DistributedSampler. No sample is lost.
  kPad,
  // Every rank delivers floor(N/W); fewer than W samples are skipped this epoch.
  kDrop,
};

// A half-open range [begin, end) of global sample indices.
struct SampleRange {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  friend bool operator==(const SampleRange&, const SampleRange&) = default;
};

// "round-robin", "contiguous", "hash", "range", "stratified", "adaptive".
std::string_view StrategyName(Strategy strategy);
// Inverse of StrategyName; InvalidArgument listing the valid names otherwise.
Result<Strategy> ParseStrategy(std::string_view name);
// "pad" or "drop".
std::string_view DropPolicyName(DropPolicy policy);

}  // namespace shardmesh::loader
