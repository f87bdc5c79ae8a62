// The epoch order: which sample comes when, as a pure function of (dataset layout, seed, epoch,
// number of canonical partitions P, shuffle window). It does not depend on the world size, on
// the rank, nor on which worker serves a block, so any number of ranks (and a later mesh of
// workers) agree on it without talking to each other.
//
// Construction, step by step:
//  1. The shards are permuted with Rng(HashCombine(seed, epoch)); then, with the same generator
//     and in that shard order, the blocks inside each shard. Concatenated: block list L of
//     length B.
//  2. P = min(requested partitions, B) canonical partitions; partition p is the contiguous run
//     L[floor(p*B/P), floor((p+1)*B/P)) (whole blocks, sizes differ by at most one block).
//  3. Inside a partition, its blocks are cut into windows of `shuffle_window_blocks`
//     consecutive blocks; the samples of each window are shuffled with their own
//     Rng(seed, epoch, p, window). A window is never mixed with another, so a reader of the
//     partition needs only one window's blocks at a time.
//  4. The global order G interleaves the partitions step by step: step t emits the t-th sample
//     of partition 0, 1, ..., P-1, skipping partitions that are exhausted.
//
// Why: a rank whose share is a set of whole partitions decodes only its own blocks (no decode
// amplification), and G restricted to any set of partitions is that set's step-by-step
// interleave, so every rank's stream follows G's order. When W divides P and the partitions
// are equally long, the ranks' streams interleaved step by step are exactly G; partitions
// differ by up to one block, and once the shorter ones are exhausted (the epoch's tail) the
// two orders can differ.
//
// Memory: a reader that owns k partitions holds at most k * shuffle_window_blocks decoded
// blocks at once (one window per owned partition), i.e. about
//   k * shuffle_window_blocks * raw block size   bytes,   k = ceil(P / W) for a partition
// strategy. A larger window shuffles better and costs memory linearly.
//
// Thread-safety: DatasetLayout and EpochOrder are immutable values after construction; const
// methods may be called from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "shardmesh/common/status.h"

namespace shardmesh::loader {

// What the epoch order needs to know of a dataset: samples per block and the shard of each
// block, blocks listed in global order (block b holds samples [first_sample(b),
// first_sample(b) + samples(b))).
class DatasetLayout {
 public:
  // `block_samples[b]` is block b's sample count; `block_shards[b]` its shard (all 0 when
  // empty). `fingerprint` is mixed into digest() to tell apart datasets with the same shape
  // (e.g. a hash of block checksums). InvalidArgument when the sizes disagree or a block is
  // empty.
  static Result<DatasetLayout> Create(std::vector<std::uint32_t> block_samples,
                                      std::vector<std::uint32_t> block_shards = {},
                                      std::uint64_t fingerprint = 0);

  DatasetLayout() = default;

  std::uint32_t num_blocks() const { return static_cast<std::uint32_t>(block_samples_.size()); }
  std::uint64_t num_samples() const { return first_sample_.empty() ? 0 : first_sample_.back(); }
  std::uint32_t block_samples(std::uint32_t b) const { return block_samples_[b]; }
  std::uint64_t block_first_sample(std::uint32_t b) const { return first_sample_[b]; }
  std::uint32_t block_shard(std::uint32_t b) const { return block_shards_[b]; }
  // The block holding global sample `s`; s must be < num_samples(). Constant time on average:
  // a table of the block at every 2^k-th sample (2^k no larger than the mean block), then a
  // step or two forward. Loaders call it once per delivered sample.
  std::uint32_t BlockOfSample(std::uint64_t s) const {
    std::uint32_t b = bucket_block_[s >> bucket_shift_];
    while (first_sample_[b + 1] <= s) ++b;
    return b;
  }
  // Stable hash of the layout and fingerprint, part of every plan digest.
  std::uint64_t digest() const { return digest_; }

 private:
  std::vector<std::uint32_t> block_samples_;
  std::vector<std::uint32_t> block_shards_;
  std::vector<std::uint64_t> first_sample_;  // size num_blocks + 1
  // bucket_block_[j]: the block holding sample j << bucket_shift_ (at most 2 * blocks + 1).
  std::vector<std::uint32_t> bucket_block_;
  std::uint32_t bucket_shift_ = 0;
  std::uint64_t digest_ = 0;
};

struct EpochOrderOptions {
  // Seed of the job; the same seed and epoch give the same order on every machine.
  std::uint64_t seed = 0;
  std::uint64_t epoch = 0;
  // Canonical partitions requested; the order uses min(partitions, blocks). More partitions
  // allow finer splits among ranks; each partition costs one window of memory in its reader.
  std::uint32_t partitions = 64;
  // Blocks per shuffle window. 1 shuffles samples within each block only (cheapest memory);
  // larger windows mix samples of several blocks.
  std::uint32_t shuffle_window_blocks = 1;
};

class EpochOrder {
 public:
  // Builds the order. InvalidArgument naming the field when partitions or
  // shuffle_window_blocks is 0. An empty layout gives an empty order with 0 partitions.
  static Result<EpochOrder> Build(const DatasetLayout& layout, const EpochOrderOptions& options);

  EpochOrder() = default;

  std::uint32_t num_partitions() const {
    return static_cast<std::uint32_t>(partition_sample_offsets_.size()) - 1;
  }
  std::uint64_t num_samples() const { return samples_.size(); }
  // The blocks of partition p, in L order.
  std::span<const std::uint32_t> PartitionBlocks(std::uint32_t p) const;
  // The samples of partition p in the partition's own order (windows shuffled).
  std::span<const std::uint64_t> PartitionSamples(std::uint32_t p) const;
  // The canonical partition owning block b.
  std::uint32_t PartitionOfBlock(std::uint32_t b) const { return partition_of_block_[b]; }
  // The block list L.
  std::span<const std::uint32_t> BlockList() const { return blocks_; }

  // G restricted to `partitions` (ascending, distinct): step t emits the t-th sample of each
  // listed partition in turn, skipping exhausted ones.
  std::vector<std::uint64_t> Interleave(std::span<const std::uint32_t> partitions) const;
  // The whole global order G.
  std::vector<std::uint64_t> Global() const;

 private:
  std::vector<std::uint32_t> blocks_;                       // L
  std::vector<std::uint32_t> partition_block_offsets_{0};   // into blocks_, size P + 1
  std::vector<std::uint64_t> samples_;                      // partition-major
  std::vector<std::uint64_t> partition_sample_offsets_{0};  // into samples_, size P + 1
  std::vector<std::uint32_t> partition_of_block_;           // by block id
};

}  // namespace shardmesh::loader
