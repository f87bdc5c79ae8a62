// Internal file I/O for checkpoint files: the durable write protocol and a validating reader
// that reads the payload straight into its final buffer (blobs are hundreds of megabytes, so
// neither path makes an extra copy).
#pragma once

#include <cstdint>
#include <string>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint::internal {

// Writes header + `payload` to `path` atomically: a temporary file next to it (path +
// ".tmp.XXXXXX"), payload hashed and written in cache-sized chunks, header written last at
// offset 0, one fsync, rename over `path`, fsync of `dir`. IOError naming the file on failure;
// the temporary file is removed then.
Status WriteCheckpointFileAtomically(const std::string& dir, const std::string& path,
                                     std::uint64_t sequence, ByteView payload);

struct ReadCheckpoint {
  std::uint64_t sequence = 0;
  std::string payload;
};

// Reads and validates the file at `path` (header, exact size, payload checksum). NotFound when
// it does not exist, Corruption/InvalidArgument naming the fault, IOError on a read error.
Result<ReadCheckpoint> ReadCheckpointFile(const std::string& path);

// The temporary-file infix; names containing it are never checkpoints.
inline constexpr char kTempInfix[] = ".tmp.";

}  // namespace shardmesh::checkpoint::internal
