#include "shardmesh/loader/epoch_order.h"

#include <algorithm>
#include <string>
#include <utility>

#include "shardmesh/common/hash.h"
#include "shardmesh/common/random.h"

namespace shardmesh::loader {
namespace {

// Domain separators, so the block permutation and the window shuffles never reuse a stream.
constexpr std::uint64_t kWindowDomain = 0x77696e646f77ULL;  // "window"
constexpr std::uint64_t kLayoutDomain = 0x6c61796f7574ULL;  // "layout"

}  // namespace

Result<DatasetLayout> DatasetLayout::Create(std::vector<std::uint32_t> block_samples,
                                            std::vector<std::uint32_t> block_shards,
                                            std::uint64_t fingerprint) {
  if (block_shards.empty()) block_shards.assign(block_samples.size(), 0);
  if (block_shards.size() != block_samples.size()) {
    return Status::InvalidArgument("dataset layout: " + std::to_string(block_samples.size()) +
                                   " block sample counts but " +
                                   std::to_string(block_shards.size()) + " block shards");
  }
  DatasetLayout layout;
  layout.first_sample_.reserve(block_samples.size() + 1);
  layout.first_sample_.push_back(0);
  std::uint64_t h = HashCombine(kLayoutDomain, fingerprint);
  for (std::size_t b = 0; b < block_samples.size(); ++b) {
    if (block_samples[b] == 0) {
      return Status::InvalidArgument("dataset layout: block " + std::to_string(b) +
                                     " has no samples");
    }
    layout.first_sample_.push_back(layout.first_sample_.back() + block_samples[b]);
    h = HashCombine(h, (static_cast<std::uint64_t>(block_shards[b]) << 32) | block_samples[b]);
  }
  layout.digest_ = h;
  const std::uint64_t n = layout.first_sample_.back();
  const std::uint64_t mean =
      block_samples.empty() ? 1 : std::max<std::uint64_t>(1, n / block_samples.size());
  while ((std::uint64_t{2} << layout.bucket_shift_) <= mean) ++layout.bucket_shift_;
  layout.bucket_block_.reserve(static_cast<std::size_t>((n >> layout.bucket_shift_) + 1));
  std::uint32_t b = 0;
  for (std::uint64_t s = 0; s < n; s += std::uint64_t{1} << layout.bucket_shift_) {
    while (layout.first_sample_[b + 1] <= s) ++b;
    layout.bucket_block_.push_back(b);
  }
  layout.block_samples_ = std::move(block_samples);
  layout.block_shards_ = std::move(block_shards);
  return layout;
}

Result<EpochOrder> EpochOrder::Build(const DatasetLayout& layout,
                                     const EpochOrderOptions& options) {
  if (options.partitions == 0) {
    return Status::InvalidArgument("epoch order: partitions must be > 0");
  }
  if (options.shuffle_window_blocks == 0) {
    return Status::InvalidArgument("epoch order: shuffle_window_blocks must be > 0");
  }
  const std::uint32_t num_blocks = layout.num_blocks();
  EpochOrder order;

  // 1. Shards in order of first appearance, each with its blocks; permute both.
  std::vector<std::uint32_t> shard_ids;
  std::vector<std::vector<std::uint32_t>> shard_blocks;
  {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> by_shard;  // (shard, block)
    by_shard.reserve(num_blocks);
    for (std::uint32_t b = 0; b < num_blocks; ++b) by_shard.emplace_back(layout.block_shard(b), b);
    std::stable_sort(by_shard.begin(), by_shard.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [shard, block] : by_shard) {
      if (shard_ids.empty() || shard_ids.back() != shard) {
        shard_ids.push_back(shard);
        shard_blocks.emplace_back();
      }
      shard_blocks.back().push_back(block);
    }
  }
  Rng block_rng(HashCombine(options.seed, options.epoch));
  std::vector<std::uint32_t> shard_perm(shard_ids.size());
  for (std::uint32_t i = 0; i < shard_perm.size(); ++i) shard_perm[i] = i;
  Shuffle(std::span<std::uint32_t>(shard_perm), block_rng);
  order.blocks_.reserve(num_blocks);
  for (std::uint32_t si : shard_perm) {
    auto& blocks = shard_blocks[si];
    Shuffle(std::span<std::uint32_t>(blocks), block_rng);
    order.blocks_.insert(order.blocks_.end(), blocks.begin(), blocks.end());
  }

  // 2. Contiguous runs of L; 3. windows shuffled inside each run.
  const std::uint64_t B = num_blocks;
  const std::uint32_t P =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(options.partitions, B));
  order.partition_of_block_.assign(num_blocks, 0);
  order.samples_.reserve(layout.num_samples());
  const std::uint64_t epoch_key =
      HashCombine(HashCombine(kWindowDomain, options.seed), options.epoch);
  for (std::uint32_t p = 0; p < P; ++p) {
    const auto begin = static_cast<std::size_t>(p * B / P);
    const auto end = static_cast<std::size_t>((p + 1) * B / P);
    order.partition_block_offsets_.push_back(end);
    std::uint64_t window = 0;
    for (std::size_t w = begin; w < end; w += options.shuffle_window_blocks, ++window) {
      const std::size_t w_end = std::min<std::size_t>(end, w + options.shuffle_window_blocks);
      const std::size_t first = order.samples_.size();
      for (std::size_t i = w; i < w_end; ++i) {
        const std::uint32_t b = order.blocks_[i];
        order.partition_of_block_[b] = p;
        const std::uint64_t s0 = layout.block_first_sample(b);
        for (std::uint32_t k = 0; k < layout.block_samples(b); ++k)
          order.samples_.push_back(s0 + k);
      }
      Rng window_rng(HashCombine(HashCombine(epoch_key, p), window));
      Shuffle(
          std::span<std::uint64_t>(order.samples_.data() + first, order.samples_.size() - first),
          window_rng);
    }
    order.partition_sample_offsets_.push_back(order.samples_.size());
  }
  return order;
}

std::span<const std::uint32_t> EpochOrder::PartitionBlocks(std::uint32_t p) const {
  return std::span<const std::uint32_t>(blocks_).subspan(
      partition_block_offsets_[p], partition_block_offsets_[p + 1] - partition_block_offsets_[p]);
}

std::span<const std::uint64_t> EpochOrder::PartitionSamples(std::uint32_t p) const {
  return std::span<const std::uint64_t>(samples_).subspan(
      partition_sample_offsets_[p],
      partition_sample_offsets_[p + 1] - partition_sample_offsets_[p]);
}

std::vector<std::uint64_t> EpochOrder::Interleave(std::span<const std::uint32_t> partitions) const {
  std::vector<std::span<const std::uint64_t>> parts;
  std::size_t total = 0, longest = 0;
  for (std::uint32_t p : partitions) {
    parts.push_back(PartitionSamples(p));
    total += parts.back().size();
    longest = std::max(longest, parts.back().size());
  }
  std::vector<std::uint64_t> out;
  out.reserve(total);
  for (std::size_t t = 0; t < longest; ++t) {
    for (const auto& part : parts) {
      if (t < part.size()) out.push_back(part[t]);
    }
  }
  return out;
}

std::vector<std::uint64_t> EpochOrder::Global() const {
  std::vector<std::uint32_t> all(num_partitions());
  for (std::uint32_t p = 0; p < all.size(); ++p) all[p] = p;
  return Interleave(all);
}

}  // namespace shardmesh::loader
