// The partition plan: every rank's delivered sequence of global sample indices for one epoch,
// as a pure function of (dataset layout, labels, PlanOptions). Every rank computes the same
// plan independently; no coordination is needed.
//
// Steps: (1) build the EpochOrder G (epoch_order.h); (2) the strategy (strategy.h) assigns
// each sample of G to one rank, each rank keeping G's relative order; (3) except for kAdaptive,
// counts are equalised to T = ceil(N/W) (kPad) or floor(N/W) (kDrop): ranks above T give the
// tail of their sequence beyond T, in rank order, to ranks below T, in rank order (appended to
// the receivers' sequences); with kPad the remaining deficits are filled from the start of G,
// wrapping; with kDrop the surplus left over (< W samples) is skipped.
//
// Cost: every rank materialises all ranks' sequences (8 bytes per sample, plus G under kPad):
// about 40 ms and 16 MB for a million samples (benchmarks/loader_bench.cc). Fine up to ~1e8
// samples per job; beyond that the plan should be computed per rank from partition sizes.
//
// Thread-safety: pure functions returning values.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/epoch_order.h"
#include "shardmesh/loader/strategy.h"

namespace shardmesh::loader {

struct PlanOptions {
  // Number of ranks (> 0) and this rank (< world_size).
  std::uint32_t world_size = 1;
  std::uint32_t rank = 0;
  Strategy strategy = Strategy::kRoundRobin;
  DropPolicy drop_policy = DropPolicy::kPad;
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  // Canonical partitions (min(partitions, blocks) are used). A multiple of the world size
  // gives every rank whole partitions (no decode amplification; only the few samples moved
  // by balancing come from other ranks' blocks); more partitions cost more decoded blocks held
  // per rank (one shuffle window each).
  std::uint32_t partitions = 64;
  // Blocks per shuffle window inside a partition (epoch_order.h).
  std::uint32_t shuffle_window_blocks = 1;
  // kRange only: one range per rank, tiling [0, N).
  std::vector<SampleRange> ranges;
  // kAdaptive only: relative throughput of each rank (samples/s or any unit); empty = equal.
  std::vector<double> throughputs;
};

// One rank's share of the epoch.
struct RankPlan {
  std::uint32_t rank = 0;
  // Global sample indices in delivery order: [own | received | padding].
  std::vector<std::uint64_t> sequence;
  // Canonical partitions the strategy gave this rank (empty for kRange and kStratified).
  std::vector<std::uint32_t> partitions;
  // Samples of `sequence` the strategy assigned to this rank (kept after balancing).
  std::uint64_t own_samples = 0;
  // Samples received from other ranks when balancing.
  std::uint64_t received_samples = 0;
  // Duplicates appended at the end under kPad.
  std::uint64_t padding_samples = 0;
  // Distinct blocks `sequence` touches: what this rank must decode.
  std::uint32_t blocks_touched = 0;
};

struct PartitionPlan {
  // Digest of what the plan depends on except the epoch (see PlanDigest).
  std::uint64_t digest = 0;
  std::uint64_t num_samples = 0;
  std::uint32_t num_blocks = 0;
  std::uint32_t num_partitions = 0;
  // Per-rank count after balancing (0 for kAdaptive, where counts differ).
  std::uint64_t target = 0;
  // Samples skipped this epoch under kDrop.
  std::uint64_t dropped_samples = 0;
  std::vector<RankPlan> ranks;
  // canonical partition of every block (by block id), for per-partition cursors.
  std::vector<std::uint32_t> partition_of_block;
};

// Upper bound of world_size (the plan keeps state per rank).
inline constexpr std::uint32_t kMaxWorldSize = 1u << 20;
// Largest canonical partition count: a stream state holds one cursor per partition, and the
// decoder refuses more than this many (checkpoint/stream_state.cc).
inline constexpr std::uint32_t kMaxPartitions = 1u << 20;

// Checks `options` against the dataset: world_size 0 or above kMaxWorldSize, rank >= world_size,
// partitions 0,
// shuffle_window_blocks 0, bad ranges (overlap, gap, empty, beyond N, wrong count), labels
// missing for kStratified, bad throughputs: InvalidArgument naming the field.
Status ValidatePlanOptions(const PlanOptions& options, const DatasetLayout& layout,
                           std::span<const std::int64_t> labels);

// Hash of (layout digest, seed, world_size, strategy, partitions, shuffle window, drop policy,
// ranges, throughputs). Two runs with the same digest and epoch deliver the same sequences.
std::uint64_t PlanDigest(const DatasetLayout& layout, const PlanOptions& options);

// Every rank's plan (options.rank is ignored). `labels` are by global index (needed only by
// kStratified; empty otherwise). Errors as ValidatePlanOptions.
Result<PartitionPlan> BuildPartitionPlan(const DatasetLayout& layout,
                                         std::span<const std::int64_t> labels,
                                         const PlanOptions& options);

}  // namespace shardmesh::loader
