// StreamingConfig: everything a StreamingLoader needs besides the dataset, built in the style
// users know from torch's DistributedSampler and MosaicML's StreamingDataset:
//
//   auto config = StreamingConfig(world_size, rank)
//                     .WithStrategy(Strategy::kRoundRobin)
//                     .WithSeed(17)
//                     .WithPrefetchBytes(256 << 20);
//
// Every field has a default; Validate() checks the whole config against a dataset and names
// the offending field. Thread-safety: a plain value; copy it freely.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "shardmesh/common/status.h"
#include "shardmesh/loader/epoch_order.h"
#include "shardmesh/loader/partition_plan.h"
#include "shardmesh/loader/strategy.h"

namespace shardmesh::loader {

class Dataset;
struct BlockInfo;
class Schema;

// Upper bound of WithPrefetchThreads: more decoders than this only cost memory and threads.
inline constexpr std::uint32_t kMaxPrefetchThreads = 64;

class StreamingConfig {
 public:
  // Rank `rank` of `world_size` (as torchrun's RANK / WORLD_SIZE). Validated by Validate().
  explicit StreamingConfig(std::uint32_t world_size = 1, std::uint32_t rank = 0);

  // How the epoch is split among ranks (default kRoundRobin).
  StreamingConfig& WithStrategy(Strategy strategy);
  // kRange only: one [begin, end) per rank, tiling [0, N).
  StreamingConfig& WithRanges(std::vector<SampleRange> ranges);
  // Decoded blocks kept ready ahead of the consumer (default 8). More hides read latency
  // spikes; each costs one decoded block of memory.
  StreamingConfig& WithPrefetchBlocks(std::uint32_t blocks);
  // Memory budget in bytes for decoded blocks held by the loader (default 512 MiB): both those
  // in use and those prefetched. A block the consumer needs now is always admitted, so a
  // budget smaller than one block, or than the rank's working set, slows but never deadlocks.
  StreamingConfig& WithPrefetchBytes(std::uint64_t bytes);
  // Seed of the epoch order (default 0); every rank must pass the same.
  StreamingConfig& WithSeed(std::uint64_t seed);
  // Record a checkpoint every `samples` delivered samples (0 = never, the default); read it
  // with StreamingLoader::LastAutoCheckpoint().
  StreamingConfig& WithCheckpointInterval(std::uint64_t samples);
  // kPad (default) delivers ceil(N/W) per rank, kDrop floor(N/W).
  StreamingConfig& WithDropPolicy(DropPolicy policy);
  // Canonical partitions (default 64). A multiple of the world size avoids decode
  // amplification; each owned partition costs one shuffle window of memory.
  StreamingConfig& WithPartitions(std::uint32_t partitions);
  // Blocks per shuffle window (default 1). Memory: owned partitions * window * block size.
  StreamingConfig& WithShuffleWindowBlocks(std::uint32_t blocks);
  // Background decode threads (default 1, at most kMaxPrefetchThreads). More helps when
  // decoding is slower than the consumer; each in-flight decode holds one more block. 0: no
  // thread, the consumer decodes each block itself when it first needs it (e.g. beside a
  // trainer that keeps every core busy), which is also what a process confined to one CPU
  // (taskset, cgroup cpusets) does, whatever this says.
  StreamingConfig& WithPrefetchThreads(std::uint32_t threads);
  // kAdaptive only: relative throughput of every rank (same vector on all ranks).
  StreamingConfig& WithAdaptiveThroughputs(std::vector<double> throughputs);
  // Epoch the loader starts in (default 0).
  StreamingConfig& WithEpoch(std::uint64_t epoch);

  // OK, or InvalidArgument naming the field (world_size, rank, partitions, ranges,
  // prefetch_threads, ...) when the config cannot work with `dataset`.
  Status Validate(const Dataset& dataset) const;

  // The plan part of the config (rank, strategy, seed, partitions, ...).
  const PlanOptions& plan_options() const { return plan_; }
  std::uint32_t prefetch_blocks() const { return prefetch_blocks_; }
  std::uint64_t prefetch_bytes() const { return prefetch_bytes_; }
  std::uint32_t prefetch_threads() const { return prefetch_threads_; }
  std::uint64_t checkpoint_interval() const { return checkpoint_interval_; }

 private:
  PlanOptions plan_;
  std::uint32_t prefetch_blocks_ = 8;
  std::uint64_t prefetch_bytes_ = 512ull << 20;
  std::uint32_t prefetch_threads_ = 1;
  std::uint64_t checkpoint_interval_ = 0;
};

// The epoch-order view of `dataset`: block sample counts and shards, with a fingerprint of
// the block checksums and the schema so that plan digests tell datasets apart.
Result<DatasetLayout> MakeDatasetLayout(const Dataset& dataset);
// The same from a schema and a block index (a mesh worker's DatasetCatalog).
Result<DatasetLayout> MakeDatasetLayout(const Schema& schema, std::span<const BlockInfo> blocks);

}  // namespace shardmesh::loader
