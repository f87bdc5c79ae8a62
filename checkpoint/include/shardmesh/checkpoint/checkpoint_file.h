// The framing of one checkpoint file, shared by CheckpointStore (stream states) and
// BlobCheckpointer (trainer state): a fixed header that says what follows and checksums it,
// then the payload. The header comes first so a reader learns the payload size from 40 bytes
// and refuses a truncated or padded file before it reads (or allocates) the rest.
//
// Format (version 1; append-only: a new version may only add header fields after these and
// must bump kCheckpointFileVersion; readers reject versions they do not know). All integers
// are little endian:
//   0  "SMCK" magic (4 bytes)
//   4  format version (u32)
//   8  sequence (u64): the caller's commit number or training step
//   16 payload size in bytes (u64)
//   24 xxh3-64 of the payload (u64)
//   32 xxh3-64 of bytes 0..31 (u64), so a flipped bit in the size is caught before it is used
//   40 payload; the file ends exactly where the payload does.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint {

inline constexpr std::uint32_t kCheckpointFileVersion = 1;
inline constexpr std::size_t kCheckpointHeaderSize = 40;

struct CheckpointHeader {
  std::uint32_t version = kCheckpointFileVersion;
  std::uint64_t sequence = 0;
  std::uint64_t payload_size = 0;
  std::uint64_t payload_hash = 0;
};

// The 40 header bytes for `header` (never fails).
std::string EncodeCheckpointHeader(const CheckpointHeader& header);

// Parses the first kCheckpointHeaderSize bytes of `data`. Corruption naming what is wrong (too
// short, bad magic, header checksum mismatch), InvalidArgument for an unknown version.
Result<CheckpointHeader> DecodeCheckpointHeader(ByteView data);

// A whole file in memory: header plus payload (used by tests, fuzzing and small files).
std::string EncodeCheckpointFile(std::uint64_t sequence, ByteView payload);

struct CheckpointFileView {
  std::uint64_t sequence = 0;
  ByteView payload;  // points into the buffer given to DecodeCheckpointFile
};

// Validates a whole file: header as above, then size (Corruption "truncated" when shorter than
// the header says, "trailing bytes" when longer) and payload checksum. Never throws.
Result<CheckpointFileView> DecodeCheckpointFile(ByteView data);

}  // namespace shardmesh::checkpoint
