// LoaderStats: counters of a StreamingLoader since its creation (cumulative over epochs),
// plus the current epoch's plan figures. A plain value snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace shardmesh::loader {

struct LoaderStats {
  // Samples delivered by Next / NextBatch / iteration.
  std::uint64_t samples_loaded = 0;
  // Samples served from blocks this process read itself, and from peers (0 in static mode).
  std::uint64_t local_samples = 0;
  std::uint64_t remote_samples = 0;
  // Blocks that were already decoded when the consumer reached them, and those it waited for.
  std::uint64_t prefetch_hits = 0;
  std::uint64_t prefetch_misses = 0;
  // Mean time the consumer spent waiting for blocks, per delivered sample.
  std::chrono::nanoseconds average_load_time{0};
  // Mean read + decompress + parse time of one block in the prefetch threads.
  std::chrono::nanoseconds average_block_decode_time{0};
  // Compressed bytes read from shard files, and decompressed bytes produced.
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_decompressed = 0;
  std::uint64_t blocks_decoded = 0;
  std::uint64_t checkpoints_taken = 0;
  // Highest decoded bytes the loader held at once (in use + prefetched), to compare with the
  // prefetch budget. It exceeds the budget only when the rank's working set (owned partitions
  // x shuffle window blocks) alone does, since needed blocks are always admitted.
  std::uint64_t peak_bytes_held = 0;
  // This epoch's plan: distinct blocks this rank's sequence needs, and the same figure for an
  // ideal partition split (total blocks / world size). Their ratio is the decode
  // amplification: 1.0 for partition strategies when W divides P, about min(W, samples per
  // block) for kStratified.
  std::uint64_t plan_blocks = 0;
  double ideal_blocks = 0;
  double decode_amplification = 0;
  // This epoch's plan: samples received from other ranks by balancing, and padding.
  std::uint64_t received_samples = 0;
  std::uint64_t padding_samples = 0;

  // One line, e.g. "samples=... hits=... misses=... amplification=1.00 ...".
  std::string ToString() const;
};

}  // namespace shardmesh::loader
