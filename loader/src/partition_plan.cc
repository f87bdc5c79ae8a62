#include "shardmesh/loader/partition_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "shardmesh/common/hash.h"

namespace shardmesh::loader {
namespace {

using Sequences = std::vector<std::vector<std::uint64_t>>;

std::string RangeText(const SampleRange& r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

Status ValidateRanges(const PlanOptions& options, std::uint64_t n) {
  const auto& ranges = options.ranges;
  if (ranges.size() != options.world_size) {
    return Status::InvalidArgument("ranges: the range strategy needs one range per rank (" +
                                   std::to_string(options.world_size) + "), got " +
                                   std::to_string(ranges.size()));
  }
  std::vector<std::pair<SampleRange, std::uint32_t>> sorted;
  for (std::uint32_t r = 0; r < ranges.size(); ++r) {
    if (ranges[r].begin >= ranges[r].end) {
      return Status::InvalidArgument("ranges: range " + RangeText(ranges[r]) + " of rank " +
                                     std::to_string(r) + " is empty");
    }
    if (ranges[r].end > n) {
      return Status::InvalidArgument("ranges: range " + RangeText(ranges[r]) + " of rank " +
                                     std::to_string(r) + " exceeds the " + std::to_string(n) +
                                     " samples of the dataset");
    }
    sorted.emplace_back(ranges[r], r);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first.begin < b.first.begin; });
  std::uint64_t expect = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& [range, rank] = sorted[i];
    if (range.begin < expect) {
      return Status::InvalidArgument("ranges: range " + RangeText(range) + " of rank " +
                                     std::to_string(rank) + " overlaps range " +
                                     RangeText(sorted[i - 1].first) + " of rank " +
                                     std::to_string(sorted[i - 1].second));
    }
    if (range.begin > expect) {
      return Status::InvalidArgument("ranges: samples [" + std::to_string(expect) + ", " +
                                     std::to_string(range.begin) +
                                     ") are in no range (gap before range " + RangeText(range) +
                                     " of rank " + std::to_string(rank) + ")");
    }
    expect = range.end;
  }
  if (expect != n) {
    return Status::InvalidArgument("ranges: samples [" + std::to_string(expect) + ", " +
                                   std::to_string(n) + ") are in no range");
  }
  return Status::OK();
}

// Partitions of each rank (ascending) for the partition strategies.
std::vector<std::vector<std::uint32_t>> AssignPartitions(const PlanOptions& options,
                                                         const EpochOrder& order) {
  const std::uint32_t W = options.world_size;
  const std::uint32_t P = order.num_partitions();
  std::vector<std::vector<std::uint32_t>> owned(W);
  switch (options.strategy) {
    case Strategy::kRoundRobin:
      for (std::uint32_t p = 0; p < P; ++p) owned[p % W].push_back(p);
      break;
    case Strategy::kContiguous:
      for (std::uint32_t r = 0; r < W; ++r) {
        const auto begin = static_cast<std::uint32_t>(std::uint64_t{r} * P / W);
        const auto end = static_cast<std::uint32_t>(std::uint64_t{r + 1} * P / W);
        for (std::uint32_t p = begin; p < end; ++p) owned[r].push_back(p);
      }
      break;
    case Strategy::kHash: {
      std::vector<std::pair<std::uint64_t, std::uint32_t>> keyed;
      for (std::uint32_t p = 0; p < P; ++p) keyed.emplace_back(HashU64(p, options.seed), p);
      std::sort(keyed.begin(), keyed.end());
      for (std::size_t i = 0; i < keyed.size(); ++i) owned[i % W].push_back(keyed[i].second);
      for (auto& o : owned) std::sort(o.begin(), o.end());
      break;
    }
    case Strategy::kAdaptive: {
      // Partition p goes to the rank whose share of the cumulative weight contains the
      // midpoint of p's samples: shares follow the throughputs as closely as whole
      // partitions allow.
      std::vector<double> w = options.throughputs;
      if (w.empty()) w.assign(W, 1.0);
      // Relative to the largest, so that the sum stays finite (1e308 twice summed to inf, and
      // every partition went to rank 0).
      const double top = *std::max_element(w.begin(), w.end());
      double sum = 0;
      for (double& x : w) sum += (x /= top);
      const double n = static_cast<double>(order.num_samples());
      std::uint64_t cum = 0;
      std::uint32_t r = 0;
      double bound = n * w[0] / sum;
      for (std::uint32_t p = 0; p < P; ++p) {
        const auto size = order.PartitionSamples(p).size();
        const double mid = static_cast<double>(cum) + static_cast<double>(size) / 2.0;
        while (r + 1 < W && mid >= bound) bound += n * w[++r] / sum;
        owned[r].push_back(p);
        cum += size;
      }
      break;
    }
    case Strategy::kRange:
    case Strategy::kStratified:
      break;
  }
  return owned;
}

Sequences AssignRanges(const PlanOptions& options, const std::vector<std::uint64_t>& global) {
  Sequences seq(options.world_size);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> starts;  // (begin, rank), sorted
  for (std::uint32_t r = 0; r < options.world_size; ++r) {
    starts.emplace_back(options.ranges[r].begin, r);
  }
  std::sort(starts.begin(), starts.end());
  for (std::uint64_t s : global) {
    auto it = std::upper_bound(starts.begin(), starts.end(), std::make_pair(s, options.world_size));
    seq[std::prev(it)->second].push_back(s);
  }
  return seq;
}

Sequences AssignStratified(const PlanOptions& options, const std::vector<std::uint64_t>& global,
                           std::span<const std::int64_t> labels) {
  const std::uint32_t W = options.world_size;
  std::vector<std::int64_t> classes(labels.begin(), labels.end());
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  std::vector<std::uint64_t> count(classes.size(), 0);
  auto class_of = [&](std::uint64_t s) {
    return static_cast<std::size_t>(std::lower_bound(classes.begin(), classes.end(), labels[s]) -
                                    classes.begin());
  };
  for (std::uint64_t s : global) ++count[class_of(s)];
  // A class starts where the previous one stopped: dealing the classes one after another
  // keeps every rank's total within 1 as well as every class count.
  std::vector<std::uint64_t> next(classes.size(), 0);
  std::uint64_t cum = 0;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    next[c] = cum % W;
    cum += count[c];
  }
  Sequences seq(W);
  for (std::uint64_t s : global) {
    auto& n = next[class_of(s)];
    seq[n % W].push_back(s);
    ++n;
  }
  return seq;
}

}  // namespace

Status ValidatePlanOptions(const PlanOptions& options, const DatasetLayout& layout,
                           std::span<const std::int64_t> labels) {
  if (options.world_size == 0) return Status::InvalidArgument("world_size must be > 0");
  if (options.world_size > kMaxWorldSize) {
    // The plan keeps per-rank state: 2^32-1 ranks threw bad_alloc, 10^8 took 14 GB.
    return Status::InvalidArgument("world_size must be at most " + std::to_string(kMaxWorldSize) +
                                   ", got " + std::to_string(options.world_size));
  }
  if (options.rank >= options.world_size) {
    return Status::InvalidArgument("rank " + std::to_string(options.rank) +
                                   " must be < world_size " + std::to_string(options.world_size));
  }
  if (static_cast<std::uint32_t>(options.strategy) > static_cast<std::uint32_t>(Strategy::kAdaptive)) {
    return Status::InvalidArgument("strategy: unknown value " +
                                   std::to_string(static_cast<int>(options.strategy)));
  }
  if (options.drop_policy != DropPolicy::kPad && options.drop_policy != DropPolicy::kDrop) {
    return Status::InvalidArgument("drop_policy: unknown value " +
                                   std::to_string(static_cast<int>(options.drop_policy)));
  }
  if (options.partitions == 0) return Status::InvalidArgument("partitions must be > 0");
  if (options.partitions > kMaxPartitions) {
    return Status::InvalidArgument("partitions must be at most " + std::to_string(kMaxPartitions) +
                                   ", got " + std::to_string(options.partitions));
  }
  if (options.shuffle_window_blocks == 0) {
    return Status::InvalidArgument("shuffle_window_blocks must be > 0");
  }
  if (options.strategy == Strategy::kRange) {
    SHARDMESH_RETURN_IF_ERROR(ValidateRanges(options, layout.num_samples()));
  } else if (!options.ranges.empty()) {
    return Status::InvalidArgument("ranges are only used by the range strategy, not " +
                                   std::string(StrategyName(options.strategy)));
  }
  if (options.strategy == Strategy::kStratified) {
    if (labels.empty() && layout.num_samples() > 0) {
      return Status::InvalidArgument(
          "strategy: stratified needs a label field, and the dataset has none");
    }
    if (labels.size() != layout.num_samples()) {
      return Status::InvalidArgument("labels: " + std::to_string(labels.size()) + " labels for " +
                                     std::to_string(layout.num_samples()) + " samples");
    }
  }
  if (options.strategy == Strategy::kAdaptive) {
    if (!options.throughputs.empty() && options.throughputs.size() != options.world_size) {
      return Status::InvalidArgument(
          "adaptive_throughputs: " + std::to_string(options.throughputs.size()) +
          " values for world_size " + std::to_string(options.world_size));
    }
    for (double t : options.throughputs) {
      if (!std::isfinite(t) || t <= 0) {
        return Status::InvalidArgument(
            "adaptive_throughputs: every value must be finite and > 0, got " + std::to_string(t));
      }
    }
  } else if (!options.throughputs.empty()) {
    return Status::InvalidArgument("adaptive_throughputs are only used by the adaptive strategy");
  }
  return Status::OK();
}

std::uint64_t PlanDigest(const DatasetLayout& layout, const PlanOptions& options) {
  std::uint64_t h = HashCombine(layout.digest(), options.seed);
  h = HashCombine(h, options.world_size);
  h = HashCombine(h, static_cast<std::uint64_t>(options.strategy));
  h = HashCombine(h, options.partitions);
  h = HashCombine(h, options.shuffle_window_blocks);
  h = HashCombine(h, static_cast<std::uint64_t>(options.drop_policy));
  for (const auto& r : options.ranges) h = HashCombine(HashCombine(h, r.begin), r.end);
  for (double t : options.throughputs) {
    std::uint64_t bits;
    std::memcpy(&bits, &t, sizeof bits);
    h = HashCombine(h, bits);
  }
  return h;
}

Result<PartitionPlan> BuildPartitionPlan(const DatasetLayout& layout,
                                         std::span<const std::int64_t> labels,
                                         const PlanOptions& options) {
  SHARDMESH_RETURN_IF_ERROR(ValidatePlanOptions(options, layout, labels));
  SHARDMESH_ASSIGN_OR_RETURN(
      EpochOrder order, EpochOrder::Build(layout, {options.seed, options.epoch, options.partitions,
                                                   options.shuffle_window_blocks}));
  const std::uint32_t W = options.world_size;
  const std::uint64_t N = order.num_samples();

  PartitionPlan plan;
  plan.digest = PlanDigest(layout, options);
  plan.num_samples = N;
  plan.num_blocks = layout.num_blocks();
  plan.num_partitions = order.num_partitions();
  plan.partition_of_block.resize(layout.num_blocks());
  for (std::uint32_t b = 0; b < layout.num_blocks(); ++b) {
    plan.partition_of_block[b] = order.PartitionOfBlock(b);
  }
  plan.ranks.resize(W);

  Sequences seq;
  const bool by_partition =
      options.strategy != Strategy::kRange && options.strategy != Strategy::kStratified;
  std::vector<std::uint64_t> global;
  if (by_partition) {
    auto owned = AssignPartitions(options, order);
    seq.resize(W);
    for (std::uint32_t r = 0; r < W; ++r) {
      seq[r] = order.Interleave(owned[r]);
      plan.ranks[r].partitions = std::move(owned[r]);
    }
  } else {
    global = order.Global();
    seq = options.strategy == Strategy::kRange ? AssignRanges(options, global)
                                               : AssignStratified(options, global, labels);
  }
  for (std::uint32_t r = 0; r < W; ++r) {
    plan.ranks[r].rank = r;
    plan.ranks[r].own_samples = seq[r].size();
  }

  if (options.strategy != Strategy::kAdaptive) {
    const std::uint64_t T = options.drop_policy == DropPolicy::kPad ? (N + W - 1) / W : N / W;
    plan.target = T;
    std::vector<std::uint64_t> pool;
    for (std::uint32_t r = 0; r < W; ++r) {
      if (seq[r].size() > T) {
        pool.insert(pool.end(), seq[r].begin() + static_cast<std::ptrdiff_t>(T), seq[r].end());
        seq[r].resize(T);
        plan.ranks[r].own_samples = T;
      }
    }
    std::size_t next = 0;
    for (std::uint32_t r = 0; r < W && next < pool.size(); ++r) {
      while (seq[r].size() < T && next < pool.size()) {
        seq[r].push_back(pool[next++]);
        ++plan.ranks[r].received_samples;
      }
    }
    plan.dropped_samples = pool.size() - next;
    if (options.drop_policy == DropPolicy::kPad && N > 0) {
      if (global.empty()) global = order.Global();
      std::uint64_t g = 0;
      for (std::uint32_t r = 0; r < W; ++r) {
        while (seq[r].size() < T) {
          seq[r].push_back(global[g++ % N]);
          ++plan.ranks[r].padding_samples;
        }
      }
    }
  }

  std::vector<std::uint32_t> seen(layout.num_blocks(), UINT32_MAX);
  for (std::uint32_t r = 0; r < W; ++r) {
    std::uint32_t touched = 0;
    for (std::uint64_t s : seq[r]) {
      const std::uint32_t b = layout.BlockOfSample(s);
      if (seen[b] != r) {
        seen[b] = r;
        ++touched;
      }
    }
    plan.ranks[r].blocks_touched = touched;
    plan.ranks[r].sequence = std::move(seq[r]);
  }
  return plan;
}

}  // namespace shardmesh::loader
