// StreamCheckpointWriter: persists a mesh loader's stream states on a thread of its own, so a
// slow fsync (tens to hundreds of milliseconds on a busy disk) never holds up the control
// thread that replicates commits to the mesh and watches for stalls. Submit() hands over the
// newest state and returns at once; a state not yet written when a newer one arrives is
// replaced (only the newest matters). The sequence numbers continue an earlier run's, so the
// newest file always has the highest number.
//
// Thread-safety: Submit and the counters from any thread; Close from one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "shardmesh/checkpoint/checkpoint_store.h"
#include "shardmesh/checkpoint/stream_state.h"
#include "shardmesh/common/status.h"

namespace shardmesh::loader::internal {

class StreamCheckpointWriter {
 public:
  // Opens (creating) `dir` with prefix "stream", keeping the last `keep` files. IOError naming
  // the directory when it cannot be created.
  static Result<std::unique_ptr<StreamCheckpointWriter>> Open(const std::string& dir,
                                                              std::uint32_t keep);
  ~StreamCheckpointWriter();  // Close()
  StreamCheckpointWriter(const StreamCheckpointWriter&) = delete;
  StreamCheckpointWriter& operator=(const StreamCheckpointWriter&) = delete;

  // Queues `state` for writing (replacing a queued one not yet started).
  void Submit(checkpoint::StreamState state);
  // Writes what is queued, then `last` if given, synchronously; stops the thread. Idempotent.
  void Close(std::optional<checkpoint::StreamState> last = std::nullopt);

  std::uint64_t persisted() const { return persisted_.load(); }
  std::uint64_t failures() const { return failures_.load(); }

 private:
  explicit StreamCheckpointWriter(checkpoint::CheckpointStore store);
  void Run();
  void Write(const checkpoint::StreamState& state);  // writer thread, or Close after the join

  checkpoint::CheckpointStore store_;
  std::uint64_t sequence_ = 0;  // writer thread (or Close after the join)
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<checkpoint::StreamState> queued_;  // guarded by mu_
  bool stop_ = false;                              // guarded by mu_
  std::atomic<std::uint64_t> persisted_{0}, failures_{0};
  std::thread thread_;
};

}  // namespace shardmesh::loader::internal
