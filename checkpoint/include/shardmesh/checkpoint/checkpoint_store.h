// CheckpointStore: numbered checkpoint files in one directory, written so that a crash at any
// moment leaves every file either complete or absent, and read back newest-valid-first.
//
// Files are named <prefix>-<sequence as 20 digits>.ckpt, so that name order is sequence order
// (no "10" before "9"), and framed as in checkpoint_file.h (magic, version, sequence, size,
// xxh3). Save writes a temporary file in the same directory (<final name>.tmp.XXXXXX), fsyncs
// it, renames it over the final name and fsyncs the directory, then deletes all but the
// newest keep_last files. LoadLatest returns the newest file that validates, skipping (with a
// spdlog warning naming the file and the fault) corrupt, truncated and empty ones.
//
// One process writes a given (directory, prefix); other stores and processes may read it
// concurrently (they only ever see complete files). Temporary files left by a crash are
// ignored by List/LoadLatest and deleted by Create.
//
// Thread-safety: all methods may be called concurrently; Saves are serialised internally.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint {

struct CheckpointStoreOptions {
  // Files kept after each save: the newest keep_last by sequence (at least 1). More files
  // survive more consecutive corrupt checkpoints, at keep_last times the checkpoint size on
  // disk.
  std::uint32_t keep_last = 3;
  // File name prefix; stores with different prefixes share a directory without touching each
  // other's files. Non-empty; letters, digits, '_', '.' and '-' only.
  std::string prefix = "stream";
};

// One checkpoint as read back.
struct StoredCheckpoint {
  std::uint64_t sequence = 0;
  std::string payload;
  std::string path;
};

// A checkpoint file found by name (not yet validated).
struct CheckpointFileInfo {
  std::uint64_t sequence = 0;
  std::string path;
  std::uint64_t size_bytes = 0;
};

class CheckpointStore {
 public:
  // Returns a store over `dir` (created with its parents if missing) after deleting stale
  // temporary files of this prefix. InvalidArgument for a bad option, IOError naming the
  // directory when it cannot be created or listed.
  static Result<CheckpointStore> Create(std::string dir, CheckpointStoreOptions options = {});

  CheckpointStore(CheckpointStore&&) noexcept;
  CheckpointStore& operator=(CheckpointStore&&) noexcept;
  ~CheckpointStore();

  // Durably writes `payload` as checkpoint `sequence` (replacing a file of the same sequence),
  // then prunes to keep_last. OK once the file and its directory entry are on disk.
  // InvalidArgument when `sequence` is below one this store saved before; IOError naming the
  // file on a write, fsync or rename failure (the temporary file is removed). A failure to
  // prune is logged, not returned: the checkpoint itself is safe.
  Status Save(std::uint64_t sequence, ByteView payload);

  // Save in two halves, for a caller that wants to report durability before the housekeeping
  // (deleting an old multi-gigabyte file takes tens of milliseconds): Write is Save without
  // the pruning, same results; Prune deletes all but the newest keep_last files, never the
  // one written last, and logs (does not return) what it cannot delete.
  Status Write(std::uint64_t sequence, ByteView payload);
  void Prune();

  // The newest checkpoint that validates. `accept`, when given, is a further check of the
  // payload (e.g. that it decodes); a checkpoint it rejects is skipped like a corrupt file.
  // NotFound naming the directory when no file validates (the warnings say why each failed);
  // IOError when the directory cannot be listed.
  Result<StoredCheckpoint> LoadLatest(
      const std::function<Status(const StoredCheckpoint&)>& accept = nullptr) const;

  // The checkpoint files of this prefix by name, sorted by increasing sequence. Temporary
  // files and other names are left out. IOError naming the directory on a listing failure.
  Result<std::vector<CheckpointFileInfo>> List() const;

  // The path checkpoint `sequence` is written to.
  std::string PathFor(std::uint64_t sequence) const;
  const std::string& dir() const { return dir_; }
  const CheckpointStoreOptions& options() const { return options_; }

 private:
  struct SaveState;
  CheckpointStore(std::string dir, CheckpointStoreOptions options);

  std::string dir_;
  CheckpointStoreOptions options_;
  std::unique_ptr<SaveState> save_state_;
};

}  // namespace shardmesh::checkpoint
