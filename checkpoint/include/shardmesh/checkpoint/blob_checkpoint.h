// BlobCheckpointer: asynchronous, durable saves of opaque trainer state (model and optimizer
// bytes) keyed by training step, on a CheckpointStore (same atomic protocol, same framing and
// checksum, newest valid one restored).
//
// SaveAsync hands the bytes (without copying them) to one background writer thread, which
// writes saves one at a time in the order they were submitted. At most max_pending saves are
// queued or in progress; SaveAsync blocks beyond that, so a trainer that saves faster than the
// disk writes is slowed down instead of holding unbounded memory. After each successful local
// save the optional on_saved hook runs (on the writer thread), e.g. to replicate the blob to
// ring successors through the mesh.
//
// Thread-safety: all methods may be called from any thread. The destructor finishes every
// submitted save before it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <utility>

#include "shardmesh/checkpoint/checkpoint_store.h"
#include "shardmesh/common/bytes.h"
#include "shardmesh/common/status.h"

namespace shardmesh::checkpoint {

struct BlobCheckpointerOptions {
  // Blob files kept (newest by step, at least 1). Each is as large as the trainer state, so
  // the default keeps one spare for a save that turns out corrupt, not more.
  std::uint32_t keep_last = 2;
  // File name prefix: files are <prefix>-<step as 20 digits>.ckpt.
  std::string prefix = "blob";
  // Saves queued or being written before SaveAsync blocks (at least 1). Each pins its bytes in
  // memory until written: higher absorbs bursts, at the cost of that much memory.
  std::size_t max_pending = 2;
  // Runs on the writer thread after a save is durable locally and before its future becomes
  // ready, with the step and the bytes saved. Keep it short (hand the bytes to another
  // thread): it delays the next save. Empty: no hook. SaveAsync and Flush called from the
  // hook return FailedPrecondition (they would wait for the thread the hook runs on).
  std::function<void(std::uint64_t step, const SharedBytes& bytes)> on_saved;
};

class BlobCheckpointer {
 public:
  // Opens a CheckpointStore over `dir` (created if missing; stale temporary files removed) and
  // starts the writer thread. InvalidArgument for bad options, IOError naming the directory.
  static Result<std::unique_ptr<BlobCheckpointer>> Create(std::string dir,
                                                          BlobCheckpointerOptions options = {});
  ~BlobCheckpointer();
  BlobCheckpointer(const BlobCheckpointer&) = delete;
  BlobCheckpointer& operator=(const BlobCheckpointer&) = delete;

  // Queues `bytes` to be saved as `step`, blocking while max_pending saves are outstanding.
  // The future holds OK once the file and its directory entry are on disk, or the error of
  // CheckpointStore::Write (IOError naming the file; InvalidArgument when `step` is below an
  // earlier saved step). Older files beyond keep_last are deleted after the future is ready.
  std::future<Status> SaveAsync(SharedBytes bytes, std::uint64_t step);
  // Same, taking ownership of a string without copying it.
  std::future<Status> SaveAsync(std::string bytes, std::uint64_t step);

  // Waits until every save submitted so far has finished (written, hook run, older files
  // pruned). Returns OK when all saves finished
  // since the previous Flush succeeded, else the first failure among them.
  Status Flush();

  // The newest blob that validates, as (step, bytes); corrupt or truncated files are skipped
  // with a warning. NotFound naming the directory when there is none. Safe while saves run.
  Result<std::pair<std::uint64_t, std::string>> LoadLatest() const;

  const CheckpointStore& store() const;

 private:
  struct Impl;
  explicit BlobCheckpointer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardmesh::checkpoint
