#include "shardmesh/loader/streaming_config.h"

#include <utility>

#include "shardmesh/common/hash.h"
#include "shardmesh/loader/dataset.h"

namespace shardmesh::loader {

StreamingConfig::StreamingConfig(std::uint32_t world_size, std::uint32_t rank) {
  plan_.world_size = world_size;
  plan_.rank = rank;
}

StreamingConfig& StreamingConfig::WithStrategy(Strategy strategy) {
  plan_.strategy = strategy;
  return *this;
}
StreamingConfig& StreamingConfig::WithRanges(std::vector<SampleRange> ranges) {
  plan_.ranges = std::move(ranges);
  return *this;
}
StreamingConfig& StreamingConfig::WithPrefetchBlocks(std::uint32_t blocks) {
  prefetch_blocks_ = blocks;
  return *this;
}
StreamingConfig& StreamingConfig::WithPrefetchBytes(std::uint64_t bytes) {
  prefetch_bytes_ = bytes;
  return *this;
}
StreamingConfig& StreamingConfig::WithSeed(std::uint64_t seed) {
  plan_.seed = seed;
  return *this;
}
StreamingConfig& StreamingConfig::WithCheckpointInterval(std::uint64_t samples) {
  checkpoint_interval_ = samples;
  return *this;
}
StreamingConfig& StreamingConfig::WithDropPolicy(DropPolicy policy) {
  plan_.drop_policy = policy;
  return *this;
}
StreamingConfig& StreamingConfig::WithPartitions(std::uint32_t partitions) {
  plan_.partitions = partitions;
  return *this;
}
StreamingConfig& StreamingConfig::WithShuffleWindowBlocks(std::uint32_t blocks) {
  plan_.shuffle_window_blocks = blocks;
  return *this;
}
StreamingConfig& StreamingConfig::WithPrefetchThreads(std::uint32_t threads) {
  prefetch_threads_ = threads;
  return *this;
}
StreamingConfig& StreamingConfig::WithAdaptiveThroughputs(std::vector<double> throughputs) {
  plan_.throughputs = std::move(throughputs);
  return *this;
}
StreamingConfig& StreamingConfig::WithEpoch(std::uint64_t epoch) {
  plan_.epoch = epoch;
  return *this;
}

Status StreamingConfig::Validate(const Dataset& dataset) const {
  if (prefetch_threads_ > kMaxPrefetchThreads) {
    return Status::InvalidArgument("prefetch_threads must be at most " +
                                   std::to_string(kMaxPrefetchThreads) + ", got " +
                                   std::to_string(prefetch_threads_));
  }
  if (prefetch_blocks_ == 0) return Status::InvalidArgument("prefetch_blocks must be > 0");
  if (prefetch_bytes_ == 0) return Status::InvalidArgument("prefetch_bytes must be > 0");
  SHARDMESH_ASSIGN_OR_RETURN(DatasetLayout layout, MakeDatasetLayout(dataset));
  return ValidatePlanOptions(plan_, layout, dataset.labels());
}

Result<DatasetLayout> MakeDatasetLayout(const Dataset& dataset) {
  return MakeDatasetLayout(dataset.schema(), dataset.blocks());
}

Result<DatasetLayout> MakeDatasetLayout(const Schema& schema, std::span<const BlockInfo> blocks) {
  std::vector<std::uint32_t> samples, shards;
  samples.reserve(blocks.size());
  shards.reserve(blocks.size());
  std::uint64_t fingerprint = schema.Digest();
  for (const BlockInfo& b : blocks) {
    samples.push_back(b.num_samples);
    shards.push_back(b.shard);
    fingerprint = HashCombine(fingerprint, b.checksum);
  }
  return DatasetLayout::Create(std::move(samples), std::move(shards), fingerprint);
}

}  // namespace shardmesh::loader
