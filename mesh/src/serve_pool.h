// ServePool: the block exchange's provider reads for peers, on a few threads so disk I/O never
// blocks the mesh loop. Finished reads wait in a queue for the loop thread, which alone may
// send on the transport.
//
// Thread-safety: every method is thread-safe. `on_done` runs on a pool thread after each read.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "shardmesh/mesh/blob_provider.h"

namespace shardmesh::mesh {

class ServePool {
 public:
  struct Done {
    std::string reply_to;
    std::uint64_t request_id = 0;
    Result<Blob> blob;
  };

  // Starts `threads` (> 0) readers of `provider`, which must outlive the pool.
  ServePool(BlobProvider& provider, std::size_t threads, std::size_t max_pending,
            std::function<void()> on_done);
  ~ServePool();  // joins; queued reads are dropped (their requesters time out)
  ServePool(const ServePool&) = delete;
  ServePool& operator=(const ServePool&) = delete;

  // Queues a read of `name`. Returns false, queuing nothing, when max_pending reads are
  // queued or running.
  bool Submit(std::string reply_to, std::uint64_t request_id, std::string name);

  // Removes and returns the finished reads, oldest first.
  std::deque<Done> TakeDone();

 private:
  struct Job {
    std::string reply_to;
    std::uint64_t request_id = 0;
    std::string name;
  };

  void Run();

  BlobProvider& provider_;
  const std::size_t max_pending_;
  std::function<void()> on_done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::deque<Done> done_;
  std::size_t running_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace shardmesh::mesh
