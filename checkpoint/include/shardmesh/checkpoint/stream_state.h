// StreamState: where a data stream stands inside an epoch, compact enough to write every few
// seconds (cursors, never sets of processed ids): a million-sample epoch fits in about a
// hundred bytes plus 2-4 bytes per partition cursor (1024 partitions: about 4 KB).
//
// Wire format (version 1, append-only: new fields go at the end of the msgpack array and bump
// kStreamStateVersion; readers reject versions they do not know):
//   "SMSS" magic (4 bytes) | msgpack array [version, epoch, seed, world_size, rank, position,
//   sequence_length, plan_digest, membership_digest, timestamp_ms, strategy,
//   [partition delta, consumed, partition delta, consumed, ...]] | xxh3-64 of everything
//   before it (8 bytes, little endian). Cursors are sorted by partition (strictly increasing).
//
// Thread-safety: plain value type and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint {

inline constexpr std::uint32_t kStreamStateVersion = 1;

// How many samples of one canonical partition the stream has consumed. Lets a later mesh mode
// resume the partition on another worker.
struct PartitionCursor {
  std::uint32_t partition = 0;
  std::uint64_t consumed = 0;
  friend bool operator==(const PartitionCursor&, const PartitionCursor&) = default;
};

struct StreamState {
  std::uint32_t version = kStreamStateVersion;
  std::uint64_t epoch = 0;
  std::uint64_t seed = 0;
  std::uint32_t world_size = 1;
  std::uint32_t rank = 0;
  // Samples of this rank's sequence already delivered (the next one to deliver). In mesh mode
  // (no fixed per-rank sequence): the samples of the epoch consumed by the whole mesh as far as
  // this worker knows, the sum of the cursors.
  std::uint64_t position = 0;
  // Length of this rank's sequence for the epoch (a cross-check on restore). In mesh mode: the
  // samples of the whole epoch.
  std::uint64_t sequence_length = 0;
  // Digest of dataset, seed, world size, strategy and partitions; restore refuses others.
  std::uint64_t plan_digest = 0;
  // Digest of the mesh membership (0 in static mode).
  std::uint64_t membership_digest = 0;
  // Wall-clock milliseconds since the Unix epoch when taken.
  std::int64_t timestamp_ms = 0;
  // Strategy code of the loader (informational; it is part of the plan digest too).
  std::uint32_t strategy = 0;
  // Sorted by partition, strictly increasing (the encoder relies on it).
  std::vector<PartitionCursor> cursors;

  friend bool operator==(const StreamState&, const StreamState&) = default;
};

// Encodes `state` in the format above (never fails).
std::string EncodeStreamState(const StreamState& state);

// Decodes a buffer written by EncodeStreamState. Corruption with a message saying what is
// wrong (too short, bad magic, checksum mismatch, malformed or truncated body, trailing data),
// InvalidArgument for an unknown version. Never throws.
Result<StreamState> DecodeStreamState(ByteView data);

}  // namespace shardmesh::checkpoint
